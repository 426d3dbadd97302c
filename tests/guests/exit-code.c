/*
 * Debug-exit with the value of "code=N" on the kernel command line, read
 * from wherever this boot protocol keeps it (spry exits (N << 1) | 1).
 */
#include "guest.h"

int main(void)
{
	const char *p = boot_cmdline();
	uint32_t code = 0;

	cprintf("exit-code: cmdline \"%s\"\n", p);
	for (; *p; p++)
		if (!strncmp(p, "code=", 5))
			break;
	if (!*p) {
		cprintf("exit-code: no code= on the command line\n");
		return GUEST_FAIL;
	}
	for (p += 5; *p >= '0' && *p <= '9'; p++)
		code = code * 10 + *p - '0';
	cprintf("exit-code: exiting with %u\n", code);
	return code;
}
