/*
 * The VM configuration, and the command line that fills it. Parsing is pure
 * (no I/O), so every bad input can be unit tested; files are opened later.
 */
#ifndef SPRY_CONFIG_H
#define SPRY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPRY_MAX_INITRDS 16
#define SPRY_MIN_MEMORY (4ULL << 20)
#define SPRY_MAX_MEMORY (1ULL << 40)
#define SPRY_DEFAULT_MEMORY (256ULL << 20)

enum accel_kind { ACCEL_AUTO, ACCEL_KVM, ACCEL_TCG };

#define SPRY_MAX_DISKS 6
#define SPRY_DISK_SERIAL_LEN 20	/* virtio-blk's GET_ID size */

enum disk_cache { DISK_CACHE_WRITEBACK, DISK_CACHE_NONE };

/* --disk path=FILE[,readonly=on][,cache=writeback|none][,serial=ID] */
struct disk_config {
	char path[4096];
	bool readonly;
	enum disk_cache cache;
	char serial[SPRY_DISK_SERIAL_LEN + 1];
};

enum console_kind { CONSOLE_NONE, CONSOLE_STDIO, CONSOLE_SOCKET, CONSOLE_PTY };

/* --console stdio|pty|socket=PATH: a virtio-console; stdio switches the serial console off. */
struct console_config {
	enum console_kind kind;
	const char *socket_path;
};

/* --rng on|rate=BYTES: a virtio-rng, at most BYTES per second (0: unlimited). */
struct rng_config {
	bool enabled;
	uint64_t rate;
};

struct vm_config {
	const char *kernel;
	const char *initrds[SPRY_MAX_INITRDS];
	int ninitrds;
	const char *cmdline;
	int ncpus;
	uint64_t memory;
	enum accel_kind accel;
	struct disk_config disks[SPRY_MAX_DISKS];
	int ndisks;
	struct console_config console;
	struct rng_config rng;
	int user_argc;			/* spry user: PROGRAM [ARGS...] */
	char *const *user_argv;
	const char *user_argv0;		/* -0 ARGV0: the program's argv[0]; NULL: PROGRAM */
};

enum cli_action { CLI_RUN, CLI_HELP, CLI_VERSION, CLI_PROBE, CLI_USER, CLI_ERROR };

/* Fill @cfg from argv (which must outlive it); on CLI_ERROR @err holds one line naming the problem. */
enum cli_action cli_parse(int argc, char *const argv[], struct vm_config *cfg,
			  char *err, size_t errlen);

/* "256M", "1G", "4096K", "65536" (MiB when no suffix, as QEMU's -m). 0 or -EINVAL. */
int parse_size(const char *s, uint64_t *bytes);

extern const char spry_usage[];

#endif
