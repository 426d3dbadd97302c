/*
 * Debug-exit with the value of "code=N" on the kernel command line, read
 * from wherever this boot protocol keeps it (spry exits (N << 1) | 1).
 */
#include "guest.h"

int main(void)
{
	uint32_t code;

	cprintf("exit-code: cmdline \"%s\"\n", boot_cmdline());
	if (!cmdline_uint("code", &code)) {
		cprintf("exit-code: no code= on the command line\n");
		return GUEST_FAIL;
	}
	cprintf("exit-code: exiting with %u\n", code);
	return (int)code;
}
