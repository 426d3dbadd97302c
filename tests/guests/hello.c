/*
 * The smallest payload: a serial marker naming the boot protocol, then a
 * clean debug-exit (spry exits 1).
 */
#include "guest.h"

int main(void)
{
	cprintf("hello from spry payload (%s)\n", boot_kind_name());
	return GUEST_PASS;
}
