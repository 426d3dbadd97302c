/*
 * A virtual machine: guest memory, vCPUs run by one accelerator, the PIO and
 * MMIO buses with their devices, and the lifecycle that ends it with one exit
 * status. One VM per process; this object holds all of its mutable state.
 */
#ifndef SPRY_VM_H
#define SPRY_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "spry/boot.h"
#include "spry/bus.h"
#include "spry/config.h"
#include "spry/layout.h"
#include "spry/memory.h"

struct vm;
struct console;
struct serial;

struct vcpu {
	struct vm *vm;
	int index;
	pthread_t thread;
	bool started;
	void *accel_state;
};

/* A vCPU's architectural state as an accelerator reports it. */
struct vcpu_state {
	uint64_t gpr[16];	/* rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8-r15 */
	uint64_t rip, rflags;
	uint64_t cr0, cr2, cr3, cr4, efer;
	uint16_t sel[6];	/* es, cs, ss, ds, fs, gs */
	uint64_t fs_base, gs_base;
	uint64_t gdt_base, idt_base;
	uint16_t gdt_limit, idt_limit;
};

/* What an accelerator provides; KVM and TCG-lite implement the same table. */
struct accel_ops {
	const char *name;
	/* The accelerator emulates the i8254 PIT itself (else spry's model serves 0x40-0x43). */
	bool has_pit;
	/* Create the machine: memory slots, irqchip, timers. */
	int (*create)(struct vm *vm);
	int (*vcpu_create)(struct vcpu *vcpu);
	/* Put the boot CPU in the state the boot protocol asks for. */
	int (*vcpu_set_boot_state)(struct vcpu *vcpu, const struct boot_cpu_state *s);
	/* Read @vcpu's state; only on the vCPU's own thread, or while it does not run. */
	int (*vcpu_get_state)(struct vcpu *vcpu, struct vcpu_state *s);
	/* Run until the VM stops; exits are dispatched to the buses. */
	void (*vcpu_run)(struct vcpu *vcpu);
	/* Make a running vCPU return to its loop promptly (async-signal safe use only). */
	void (*vcpu_kick)(struct vcpu *vcpu);
	int (*irq_line)(struct vm *vm, unsigned int gsi, int level);
	/*
	 * Optional (NULL when the accelerator has none): have a 4-byte guest
	 * write of @datamatch to MMIO @addr signal eventfd @fd without an exit
	 * to spry, and have writes to eventfd @fd raise an edge on @gsi.
	 */
	int (*ioeventfd)(struct vm *vm, int fd, uint64_t addr, uint32_t datamatch);
	int (*irqfd)(struct vm *vm, int fd, unsigned int gsi);
	void (*destroy)(struct vm *vm);
};

struct vm {
	const struct vm_config *cfg;
	struct guest_memory mem;
	struct bus pio, mmio;
	const struct accel_ops *accel;
	void *accel_state;
	int ncpus;
	struct vcpu vcpus[SPRY_MAX_CPUS];
	struct boot_cpu_state boot;

	struct console *console;	/* serial console on stdio; NULL with --console stdio */
	struct serial *serial;
	struct io_loop *io;		/* the I/O thread; NULL without virtio devices */

	/* Lifecycle: the first stop request decides the exit status. */
	atomic_bool stopping;
	int exit_status;
	pthread_mutex_t stop_lock;
	int stop_efd;		/* written once on the first stop request */

	struct timespec start_wall;	/* when spry started, for the boot timer */
};

/* Ask the VM to stop with @exit_status (enum spry_exit or a debug-exit status). */
void vm_request_stop(struct vm *vm, int exit_status);
static inline bool vm_stopping(struct vm *vm)
{
	return atomic_load_explicit(&vm->stopping, memory_order_acquire);
}

/* How many virtio-mmio windows @cfg needs (disks, then console, then rng). */
unsigned int vm_virtio_count(const struct vm_config *cfg);

/*
 * A vCPU thread's end of the VM: log @vcpu's state (vcpu_get_state) and ask
 * the VM to stop with @exit_status (a triple fault or a vCPU failure).
 */
void vm_vcpu_failed(struct vcpu *vcpu, int exit_status);

/* Raise or lower an interrupt line, whatever irqchip is in use. */
void vm_irq_line(struct vm *vm, unsigned int gsi, int level);

/*
 * Allocate guest RAM for @cfg and load the kernel, initrds and firmware tables
 * into it; this needs no accelerator. 0, or -1 with a message printed.
 */
int vm_load(struct vm *vm, const struct vm_config *cfg);
/* Build the rest of the machine on @accel; 0, or -1 with a message printed. */
int vm_create(struct vm *vm, const struct accel_ops *accel);
/*
 * Block the stop signals (SIGINT, SIGTERM, SIGHUP; vm_run() takes them
 * through a signalfd) and the vCPU kick signal, first thing in main().
 */
void vm_block_signals(void);
/* Run until the VM stops; returns the process exit status. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

#endif
