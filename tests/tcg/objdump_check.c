/*
 * Decoder check against binutils: random encodings from the decoder's tables
 * for 64-, 32- and 16-bit code are disassembled by objdump, and every
 * instruction length must match ours. Usage: tcg_objdump_check [N [SEED]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen.h"

#define MAX_INSNS 20000

struct sample {
	uint8_t bytes[X86_MAX_INSN_LEN];
	int len;
};

static const char *machine(int mode)
{
	return mode == 64 ? "-m i386:x86-64 -M intel64" : mode == 32 ? "-m i386" : "-m i8086";
}

/* Instruction start offsets as objdump sees them; returns how many. */
static int objdump_starts(const char *path, int mode, long *starts, int max)
{
	char cmd[512], line[512];
	int n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "objdump -D -b binary %s --insn-width=16 %s", machine(mode),
		 path);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p) && n < max) {
		char *end;
		long off = strtol(line, &end, 16);

		if (end != line && *end == ':' && end[1] == '\t' && line[0] == ' ')
			starts[n++] = off;
	}
	return pclose(p) == 0 ? n : -1;
}

static void print_bytes(const struct sample *s)
{
	for (int i = 0; i < s->len; i++)
		printf(" %02x", s->bytes[i]);
}

static int check_mode(struct rng *r, int mode, int count)
{
	static struct sample s[MAX_INSNS];
	static long starts[MAX_INSNS + 1];
	char path[] = "/tmp/spry-objdump-XXXXXX";
	const struct gen_opts o = { .mode = mode };
	int fd = mkstemp(path), n;
	long off = 0;

	if (fd < 0)
		return -1;
	for (int i = 0; i < count; i++) {
		struct unit u;

		gen_unit(r, &o, &u);
		s[i].len = u.len;
		memcpy(s[i].bytes, u.bytes, u.len);
		if (write(fd, u.bytes, u.len) != u.len)
			return -1;
	}
	close(fd);
	n = objdump_starts(path, mode, starts, MAX_INSNS + 1);
	unlink(path);
	if (n < 0) {
		printf("objdump failed\n");
		return -1;
	}
	for (int i = 0; i < count; i++) {
		if (i >= n || starts[i] != off) {
			printf("%d-bit: length mismatch at instruction %d (offset %#lx):", mode, i, off);
			print_bytes(&s[i]);
			printf(" (we decode %d bytes)\n", s[i].len);
			if (i > 0) {
				printf("  previous:");
				print_bytes(&s[i - 1]);
				printf("\n");
			}
			return 1;
		}
		off += s[i].len;
	}
	printf("%d-bit: %d instructions, lengths agree with objdump\n", mode, count);
	return 0;
}

int main(int argc, char **argv)
{
	int count = argc > 1 ? atoi(argv[1]) : 5000, rc = 0;
	struct rng r = { .s = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x0bd };
	static const int modes[] = { 64, 32, 16 };

	if (count > MAX_INSNS)
		count = MAX_INSNS;
	for (int i = 0; i < 3; i++)
		rc |= check_mode(&r, modes[i], count);
	return rc ? 1 : 0;
}
