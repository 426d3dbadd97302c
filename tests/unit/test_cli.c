/*
 * The command line: every option, defaults, and one clear line for every
 * kind of bad input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "spry/config.h"

#define ARGV(...) ((char *const[]){ "spry", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "spry", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(cfg, err, ...) \
	cli_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (cfg), (err), sizeof(err))

static void full_run_command(void **state)
{
	struct vm_config cfg;
	char err[256];

	assert_int_equal(PARSE(&cfg, err, "run", "--kernel", "k", "--initrd", "a", "--initrd",
			       "b", "--cmdline", "console=ttyS0", "--cpus", "4", "--memory",
			       "1G", "--accel", "kvm"), CLI_RUN);
	assert_string_equal(cfg.kernel, "k");
	assert_int_equal(cfg.ninitrds, 2);
	assert_string_equal(cfg.initrds[1], "b");
	assert_string_equal(cfg.cmdline, "console=ttyS0");
	assert_int_equal(cfg.ncpus, 4);
	assert_int_equal(cfg.memory, 1ULL << 30);
	assert_int_equal(cfg.accel, ACCEL_KVM);
}

static void virtio_devices(void **state)
{
	struct vm_config cfg;
	char err[256];

	assert_int_equal(PARSE(&cfg, err, "run", "--kernel", "k",
			       "--disk", "path=/tmp/a.img",
			       "--disk", "serial=disk2,path=b.img,readonly=on,cache=none",
			       "--console", "socket=/run/c.sock", "--rng", "rate=64K"), CLI_RUN);
	assert_int_equal(cfg.ndisks, 2);
	assert_string_equal(cfg.disks[0].path, "/tmp/a.img");
	assert_false(cfg.disks[0].readonly);
	assert_int_equal(cfg.disks[0].cache, DISK_CACHE_WRITEBACK);
	assert_string_equal(cfg.disks[0].serial, "");
	assert_string_equal(cfg.disks[1].path, "b.img");
	assert_true(cfg.disks[1].readonly);
	assert_int_equal(cfg.disks[1].cache, DISK_CACHE_NONE);
	assert_string_equal(cfg.disks[1].serial, "disk2");
	assert_int_equal(cfg.console.kind, CONSOLE_SOCKET);
	assert_string_equal(cfg.console.socket_path, "/run/c.sock");
	assert_true(cfg.rng.enabled);
	assert_int_equal(cfg.rng.rate, 64 * 1024);

	assert_int_equal(PARSE(&cfg, err, "run", "--kernel", "k", "--console", "pty",
			       "--rng", "on"), CLI_RUN);
	assert_int_equal(cfg.console.kind, CONSOLE_PTY);
	assert_true(cfg.rng.enabled);
	assert_int_equal(cfg.rng.rate, 0);
	assert_int_equal(PARSE(&cfg, err, "run", "--kernel", "k", "--rng", "rate=1000"), CLI_RUN);
	assert_int_equal(cfg.rng.rate, 1000);	/* a bare rate is in bytes */
	assert_int_equal(PARSE(&cfg, err, "run", "--kernel", "k"), CLI_RUN);
	assert_int_equal(cfg.ndisks, 0);
	assert_int_equal(cfg.console.kind, CONSOLE_NONE);
	assert_false(cfg.rng.enabled);
}

static void defaults(void **state)
{
	struct vm_config cfg;
	char err[256];

	assert_int_equal(PARSE(&cfg, err, "run", "--kernel=vmlinux"), CLI_RUN);
	assert_string_equal(cfg.kernel, "vmlinux");
	assert_int_equal(cfg.ncpus, 1);
	assert_int_equal(cfg.memory, SPRY_DEFAULT_MEMORY);
	assert_int_equal(cfg.accel, ACCEL_AUTO);
	assert_null(cfg.cmdline);
	assert_int_equal(cfg.ninitrds, 0);
}

static void other_commands(void **state)
{
	struct vm_config cfg;
	char err[256];

	assert_int_equal(PARSE(&cfg, err, "--help"), CLI_HELP);
	assert_int_equal(PARSE(&cfg, err, "--version"), CLI_VERSION);
	assert_int_equal(PARSE(&cfg, err, "probe"), CLI_PROBE);
	assert_int_equal(PARSE(&cfg, err, "run", "--help"), CLI_HELP);
	assert_int_equal(PARSE(&cfg, err, "user", "/bin/busybox", "echo", "--kernel"), CLI_USER);
	/* Everything after the program is the program's, options included. */
	assert_int_equal(cfg.user_argc, 3);
	assert_string_equal(cfg.user_argv[0], "/bin/busybox");
	assert_string_equal(cfg.user_argv[2], "--kernel");
	assert_null(cfg.user_argv0);
	/* -0 names the program's argv[0] (as qemu-x86_64's -0), re-exec uses it. */
	assert_int_equal(PARSE(&cfg, err, "user", "-0", "sh", "/bin/busybox", "-c", "x"), CLI_USER);
	assert_string_equal(cfg.user_argv0, "sh");
	assert_int_equal(cfg.user_argc, 3);
	assert_string_equal(cfg.user_argv[0], "/bin/busybox");
}

struct bad_case {
	char *argv[8];
	const char *expect;	/* a word the error line must contain */
};

static void bad_input_names_the_problem(void **state)
{
	static const struct bad_case cases[] = {
		{ { "spry", NULL }, "no command" },
		{ { "spry", "launch", NULL }, "unknown command 'launch'" },
		{ { "spry", "run", NULL }, "--kernel" },
		{ { "spry", "run", "--kernel", "k", "--cpus", "0", NULL }, "--cpus '0'" },
		{ { "spry", "run", "--kernel", "k", "--cpus", "65", NULL }, "--cpus '65'" },
		{ { "spry", "run", "--kernel", "k", "--cpus", "two", NULL }, "--cpus 'two'" },
		{ { "spry", "run", "--kernel", "k", "--cpus", "2x", NULL }, "--cpus '2x'" },
		{ { "spry", "run", "--kernel", "k", "--memory", "1X", NULL }, "--memory '1X'" },
		{ { "spry", "run", "--kernel", "k", "--memory", "1M", NULL }, "--memory '1M'" },
		{ { "spry", "run", "--kernel", "k", "--memory", "2T", NULL }, "--memory '2T'" },
		{ { "spry", "run", "--kernel", "k", "--memory", "-5", NULL }, "--memory '-5'" },
		{ { "spry", "run", "--kernel", "k", "--memory", "4097K", NULL }, "whole 4K" },
		{ { "spry", "run", "--kernel", "k", "--memory",
		    "99999999999999999999", NULL }, "--memory" },
		{ { "spry", "run", "--kernel", "k", "--accel", "xen", NULL }, "--accel 'xen'" },
		{ { "spry", "run", "--kernel", "k", "--frobnicate", NULL }, "--frobnicate" },
		{ { "spry", "run", "--kernel", NULL }, "needs a value" },
		{ { "spry", "run", "--kernel", "k", "-x", NULL }, "unknown option '-x'" },
		{ { "spry", "run", "--kernel", "k", "extra", NULL }, "'extra'" },
		{ { "spry", "probe", "x", NULL }, "probe" },
		{ { "spry", "user", NULL }, "PROGRAM is required" },
		{ { "spry", "user", "-0", NULL }, "-0 needs" },
		{ { "spry", "user", "-0", "sh", NULL }, "PROGRAM is required" },
		{ { "spry", "run", "--kernel", "k", "--disk", "readonly=on", NULL }, "path=FILE" },
		{ { "spry", "run", "--kernel", "k", "--disk", "path=", NULL }, "empty" },
		{ { "spry", "run", "--kernel", "k", "--disk", "path=a,cache=wt", NULL }, "cache=" },
		{ { "spry", "run", "--kernel", "k", "--disk", "path=a,readonly=yes", NULL },
		  "readonly=" },
		{ { "spry", "run", "--kernel", "k", "--disk", "path=a,serial=123456789012345678901",
		    NULL }, "serial=" },
		{ { "spry", "run", "--kernel", "k", "--disk", "path=a,bogus=1", NULL }, "unknown key" },
		{ { "spry", "run", "--kernel", "k", "--console", "tty", NULL }, "--console 'tty'" },
		{ { "spry", "run", "--kernel", "k", "--console", "socket=", NULL }, "--console" },
		{ { "spry", "run", "--kernel", "k", "--rng", "rate=0", NULL }, "--rng 'rate=0'" },
		{ { "spry", "run", "--kernel", "k", "--rng", "fast", NULL }, "--rng 'fast'" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vm_config cfg;
		char err[256];
		int argc = 0;

		while (cases[i].argv[argc])
			argc++;
		assert_int_equal(cli_parse(argc, cases[i].argv, &cfg, err, sizeof(err)),
				 CLI_ERROR);
		if (!strstr(err, cases[i].expect))
			fail_msg("case %zu: '%s' does not mention '%s'", i, err, cases[i].expect);
		assert_null(strchr(err, '\n'));
	}
}

static void too_many_initrds(void **state)
{
	char *argv[4 + 2 * (SPRY_MAX_INITRDS + 1)] = { "spry", "run", "--kernel", "k" };
	struct vm_config cfg;
	char err[256];
	int argc = 4;

	for (int i = 0; i <= SPRY_MAX_INITRDS; i++) {
		argv[argc++] = "--initrd";
		argv[argc++] = "i";
	}
	assert_int_equal(cli_parse(argc, argv, &cfg, err, sizeof(err)), CLI_ERROR);
	assert_non_null(strstr(err, "--initrd"));
}

static void sizes(void **state)
{
	uint64_t b;

	assert_int_equal(parse_size("256", &b), 0);
	assert_int_equal(b, 256ULL << 20);
	assert_int_equal(parse_size("4096K", &b), 0);
	assert_int_equal(b, 4096ULL << 10);
	assert_int_equal(parse_size("2G", &b), 0);
	assert_int_equal(b, 2ULL << 30);
	assert_int_equal(parse_size("512MiB", &b), 0);
	assert_int_equal(b, 512ULL << 20);
	assert_int_equal(parse_size("1t", &b), 0);
	assert_int_equal(b, 1ULL << 40);
	assert_int_not_equal(parse_size("", &b), 0);
	assert_int_not_equal(parse_size("M", &b), 0);
	assert_int_not_equal(parse_size("1 M", &b), 0);
	assert_int_not_equal(parse_size("1MM", &b), 0);
	assert_int_not_equal(parse_size("1P", &b), 0);
	assert_int_not_equal(parse_size("17179869184T", &b), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_run_command),
		cmocka_unit_test(defaults),
		cmocka_unit_test(virtio_devices),
		cmocka_unit_test(other_commands),
		cmocka_unit_test(bad_input_names_the_problem),
		cmocka_unit_test(too_many_initrds),
		cmocka_unit_test(sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
