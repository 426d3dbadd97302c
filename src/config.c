/*
 * Command-line parsing into a vm_config, in the style of kvmtool and Cloud
 * Hypervisor: `spry run --kernel PATH ...`. Every rejected input gets one line
 * saying which option and value are wrong.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spry/config.h"
#include "spry/layout.h"

const char spry_usage[] =
	"usage: spry run --kernel PATH [options]\n"
	"       spry probe\n"
	"       spry user [-0 ARGV0] PROGRAM [ARGS...]\n"
	"       spry --version | --help\n"
	"\n"
	"run options:\n"
	"  --kernel PATH     bzImage, ELF vmlinux with a PVH note, or multiboot kernel\n"
	"  --initrd PATH     initramfs (bzImage, PVH) or module (multiboot); repeatable\n"
	"  --cmdline STR     kernel command line\n"
	"  --cpus N          number of vCPUs (1-64, default 1)\n"
	"  --memory SIZE     guest RAM, e.g. 256M or 2G (default 256M; no suffix: MiB)\n"
	"  --accel KIND      auto (default), kvm or tcg\n"
	"  --disk path=FILE[,readonly=on][,cache=writeback|none][,serial=ID]\n"
	"                    a virtio-blk disk on a raw image; repeatable (up to 6)\n"
	"  --console stdio|pty|socket=PATH\n"
	"                    a virtio-console (hvc0); stdio switches the serial console off\n"
	"  --rng on|rate=BYTES  a virtio-rng, at most BYTES per second (e.g. rate=64K)\n"
	"\n"
	"probe: says whether KVM runs guest ring 0 natively on this host (exit 0) or not (exit 10)\n"
	"user: runs a static x86-64 Linux program under TCG-lite, its system calls passed to\n"
	"      the host (as qemu-x86_64); exits with the program's status; -0 sets its argv[0]\n";

__attribute__((format(printf, 3, 4)))
static enum cli_action fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return CLI_ERROR;
}

/* A size with an optional K/M/G/T suffix; a bare number is in units of 1 << @shift. */
static int parse_size_unit(const char *s, unsigned int shift, uint64_t *bytes)
{
	static const char units[] = "KMGT";
	unsigned long long v;
	const char *unit;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end) {
		unit = strchr(units, *end & ~0x20);
		if (!unit || !*unit)
			return -EINVAL;
		shift = 10 * (unsigned int)(unit - units + 1);
		end++;
		/* "256M", "256MB" and "256MiB" all mean the same here. */
		if (!strcmp(end, "iB"))
			end += 2;
		else if (!strcmp(end, "B"))
			end++;
	}
	if (*end || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*bytes = (uint64_t)v << shift;
	return 0;
}

int parse_size(const char *s, uint64_t *bytes)
{
	return parse_size_unit(s, 20, bytes);
}

static int parse_cpus(const char *s, int *ncpus)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > SPRY_MAX_CPUS)
		return -EINVAL;
	*ncpus = (int)v;
	return 0;
}

static int parse_accel(const char *s, enum accel_kind *accel)
{
	if (!strcmp(s, "auto"))
		*accel = ACCEL_AUTO;
	else if (!strcmp(s, "kvm"))
		*accel = ACCEL_KVM;
	else if (!strcmp(s, "tcg"))
		*accel = ACCEL_TCG;
	else
		return -EINVAL;
	return 0;
}

/* "key=value" at *@s: the value (up to the next comma) goes to @val. Advances *@s. */
static bool take_key(const char **s, const char *key, char *val, size_t len)
{
	size_t klen = strlen(key), n;

	if (strncmp(*s, key, klen) || (*s)[klen] != '=')
		return false;
	*s += klen + 1;
	n = strcspn(*s, ",");
	snprintf(val, len, "%.*s", (int)(n < len ? n : len - 1), *s);
	if (n >= len)
		val[0] = '\0';		/* too long: reported as a bad value */
	*s += n;
	return true;
}

static const char *parse_disk(const char *s, struct disk_config *d)
{
	char val[64];

	memset(d, 0, sizeof(*d));
	while (*s) {
		if (!strncmp(s, "path=", 5)) {
			size_t n = strcspn(s + 5, ",");

			if (!n || n >= sizeof(d->path))
				return n ? "path= is too long" : "path= is empty";
			memcpy(d->path, s + 5, n);
			d->path[n] = '\0';
			s += 5 + n;
		} else if (take_key(&s, "readonly", val, sizeof(val))) {
			if (strcmp(val, "on") && strcmp(val, "off"))
				return "readonly= takes on or off";
			d->readonly = !strcmp(val, "on");
		} else if (take_key(&s, "cache", val, sizeof(val))) {
			if (strcmp(val, "writeback") && strcmp(val, "none"))
				return "cache= takes writeback or none";
			d->cache = strcmp(val, "none") ? DISK_CACHE_WRITEBACK : DISK_CACHE_NONE;
		} else if (take_key(&s, "serial", val, sizeof(val))) {
			if (!val[0] || strlen(val) > SPRY_DISK_SERIAL_LEN)
				return "serial= takes 1 to 20 characters";
			strcpy(d->serial, val);
		} else {
			return "unknown key (expected path, readonly, cache or serial)";
		}
		if (*s == ',')
			s++;
	}
	return d->path[0] ? NULL : "path=FILE is required";
}

static int parse_console(const char *s, struct console_config *c)
{
	if (!strcmp(s, "stdio"))
		c->kind = CONSOLE_STDIO;
	else if (!strcmp(s, "pty"))
		c->kind = CONSOLE_PTY;
	else if (!strncmp(s, "socket=", 7) && s[7])
		c->kind = CONSOLE_SOCKET, c->socket_path = s + 7;
	else
		return -EINVAL;
	return 0;
}

static int parse_rng(const char *s, struct rng_config *r)
{
	r->enabled = true;
	r->rate = 0;
	if (!strcmp(s, "on"))
		return 0;
	if (strncmp(s, "rate=", 5) || parse_size_unit(s + 5, 0, &r->rate) || !r->rate)
		return -EINVAL;
	return 0;
}

enum {
	OPT_KERNEL = 1, OPT_INITRD, OPT_CMDLINE, OPT_CPUS, OPT_MEMORY, OPT_ACCEL,
	OPT_DISK, OPT_CONSOLE, OPT_RNG,
};

static const struct option run_options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "accel", required_argument, NULL, OPT_ACCEL },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "rng", required_argument, NULL, OPT_RNG },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static enum cli_action apply_option(int opt, const char *arg, struct vm_config *cfg,
				    char *err, size_t errlen)
{
	const char *why;

	switch (opt) {
	case OPT_KERNEL:
		cfg->kernel = arg;
		break;
	case OPT_INITRD:
		if (cfg->ninitrds == SPRY_MAX_INITRDS)
			return fail(err, errlen, "--initrd: at most %d files", SPRY_MAX_INITRDS);
		cfg->initrds[cfg->ninitrds++] = arg;
		break;
	case OPT_CMDLINE:
		cfg->cmdline = arg;
		break;
	case OPT_CPUS:
		if (parse_cpus(arg, &cfg->ncpus))
			return fail(err, errlen, "--cpus '%s': expected a number from 1 to %d",
				    arg, SPRY_MAX_CPUS);
		break;
	case OPT_MEMORY:
		if (parse_size(arg, &cfg->memory) || cfg->memory < SPRY_MIN_MEMORY ||
		    cfg->memory > SPRY_MAX_MEMORY || cfg->memory % 4096)
			return fail(err, errlen,
				    "--memory '%s': expected a size from 4M to 1T in whole 4K pages",
				    arg);
		break;
	case OPT_ACCEL:
		if (parse_accel(arg, &cfg->accel))
			return fail(err, errlen, "--accel '%s': expected auto, kvm or tcg", arg);
		break;
	case OPT_DISK:
		if (cfg->ndisks == SPRY_MAX_DISKS)
			return fail(err, errlen, "--disk: at most %d disks", SPRY_MAX_DISKS);
		why = parse_disk(arg, &cfg->disks[cfg->ndisks]);
		if (why)
			return fail(err, errlen, "--disk '%s': %s", arg, why);
		cfg->ndisks++;
		break;
	case OPT_CONSOLE:
		if (parse_console(arg, &cfg->console))
			return fail(err, errlen,
				    "--console '%s': expected stdio, pty or socket=PATH", arg);
		break;
	case OPT_RNG:
		if (parse_rng(arg, &cfg->rng))
			return fail(err, errlen, "--rng '%s': expected on or rate=BYTES (e.g. 64K)",
				    arg);
		break;
	case 'h':
		return CLI_HELP;
	default:
		return CLI_ERROR;
	}
	return CLI_RUN;
}

static enum cli_action parse_run(int argc, char *const argv[], struct vm_config *cfg,
				 char *err, size_t errlen)
{
	int opt;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+h", run_options, NULL)) != -1) {
		enum cli_action a;

		if (opt == '?' || opt == ':') {
			const char *bad = argv[optind - 1];

			/* optopt is also set for unknown short options: look at the spelling. */
			if (optopt && !strncmp(bad, "--", 2))
				return fail(err, errlen, "option '%s' needs a value", bad);
			return fail(err, errlen, "unknown option '%s' (see spry --help)", bad);
		}
		a = apply_option(opt, optarg, cfg, err, errlen);
		if (a != CLI_RUN)
			return a;
	}
	if (optind < argc)
		return fail(err, errlen, "unexpected argument '%s'", argv[optind]);
	if (!cfg->kernel)
		return fail(err, errlen, "run: --kernel PATH is required");
	return CLI_RUN;
}

enum cli_action cli_parse(int argc, char *const argv[], struct vm_config *cfg,
			  char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ncpus = 1;
	cfg->memory = SPRY_DEFAULT_MEMORY;
	cfg->accel = ACCEL_AUTO;
	err[0] = '\0';

	if (argc < 2)
		return fail(err, errlen, "no command given (see spry --help)");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
		return CLI_HELP;
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))
		return CLI_VERSION;
	if (!strcmp(argv[1], "probe"))
		return argc == 2 ? CLI_PROBE :
			fail(err, errlen, "probe: unexpected argument '%s'", argv[2]);
	if (!strcmp(argv[1], "user")) {
		int first = 2;

		if (argc > 2 && !strcmp(argv[2], "-0")) {
			if (argc < 4)
				return fail(err, errlen, "user: -0 needs an argument");
			cfg->user_argv0 = argv[3];
			first = 4;
		}
		if (argc <= first)
			return fail(err, errlen, "user: PROGRAM is required");
		cfg->user_argc = argc - first;
		cfg->user_argv = argv + first;
		return CLI_USER;
	}
	if (!strcmp(argv[1], "run"))
		return parse_run(argc - 1, argv + 1, cfg, err, errlen);
	return fail(err, errlen, "unknown command '%s' (see spry --help)", argv[1]);
}
