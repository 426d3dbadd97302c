/*
 * Triple fault: with an empty IDT, #UD cannot be delivered, nor the #DF
 * that follows, so the CPU shuts down; spry must exit 6.
 */
#include "guest.h"

int main(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) empty = { 0, 0 };

	cprintf("triple-fault: loading an empty IDT\n");
	asm volatile("lidt %0; ud2" : : "m"(empty));
	return GUEST_FAIL;
}
