/*
 * spry's process exit statuses. Odd statuses belong to the debug-exit port
 * ((value << 1) | 1, as QEMU's isa-debug-exit), so spry's own are even.
 */
#ifndef SPRY_EXIT_H
#define SPRY_EXIT_H

enum spry_exit {
	SPRY_EXIT_POWEROFF = 0,		/* guest powered off */
	SPRY_EXIT_ERROR = 2,		/* bad usage, bad input, or a host failure */
	SPRY_EXIT_REBOOT = 4,		/* guest asked for a reset (i8042 or ACPI) */
	SPRY_EXIT_TRIPLE_FAULT = 6,	/* a vCPU shut down: triple fault */
	SPRY_EXIT_SIGNAL = 8,		/* stopped by SIGTERM or SIGINT */
	SPRY_EXIT_NO_ACCEL = 10,	/* no accelerator can run this guest here */
	SPRY_EXIT_VCPU_FAILURE = 12,	/* the accelerator failed to run a vCPU */
};

#endif
