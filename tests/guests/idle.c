/*
 * Says it is idle, then halts with interrupts off for good: only something
 * outside the guest (a signal to spry) can end this VM.
 */
#include "guest.h"

int main(void)
{
	cprintf("idle: waiting\n");
	halt_forever();
}
