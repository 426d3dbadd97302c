/*
 * The legacy devices of a spry machine. Each constructor allocates its device,
 * registers it on the VM's PIO or MMIO bus (which frees it on destroy) and
 * returns 0, or -1 with a message printed.
 */
#ifndef SPRY_DEVICES_H
#define SPRY_DEVICES_H

#include <stddef.h>
#include <stdint.h>

#include "spry/vm.h"

int debug_exit_init(struct vm *vm);
int i8042_init(struct vm *vm);
int rtc_init(struct vm *vm);
int boot_timer_init(struct vm *vm);
int acpi_sleep_init(struct vm *vm);

/* 8250/16550A UART at @port on @irq, its output to @con. */
struct serial *serial_init(struct vm *vm, uint16_t port, unsigned int irq, struct console *con);
/* Bytes the receive FIFO can take now. */
size_t serial_rx_room(struct serial *s);
/* Hand input to the UART; returns how many bytes it took. */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);

#endif
