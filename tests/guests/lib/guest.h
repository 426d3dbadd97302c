/*
 * The tiny library every guest payload links: boot information, port and
 * MMIO access, serial printf, exit paths, interrupts, APIC, PIT and SMP.
 * Freestanding 64-bit code; addresses come from include/spry/layout.h.
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spry/layout.h"
#include "asm.h"

/* Payload result codes passed to debug_exit(): status (code << 1) | 1. */
#define GUEST_PASS		0	/* spry exits 1 */
#define GUEST_FAIL		0x30	/* a payload check failed: exits 97 */
#define GUEST_EXCEPTION		0x31	/* unexpected exception: exits 99 */

/* Set by the entry code before C runs; BOOT_KIND_* from asm.h. */
extern uint32_t boot_kind;
extern uint64_t boot_info;	/* multiboot info, hvm_start_info or boot_params */

/* Each payload's body; its return value goes to debug_exit(). */
int main(void);

const char *boot_kind_name(void);
const char *boot_cmdline(void);	/* "" when the loader gave none */
/* The number after "KEY=" on the command line; false when KEY= is absent. */
bool cmdline_uint(const char *key, uint32_t *value);

static inline void outb(uint16_t port, uint8_t v)
{
	asm volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	asm volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t mmio_read32(uint64_t addr)
{
	return *(volatile uint32_t *)addr;
}

static inline void mmio_write32(uint64_t addr, uint32_t v)
{
	*(volatile uint32_t *)addr = v;
}

static inline void mmio_write8(uint64_t addr, uint8_t v)
{
	*(volatile uint8_t *)addr = v;
}

/* Serial console on COM1 (polled). */
void cputc(char c);
/* printf-lite: %s %c %d %u %x %p and the l forms; no widths. */
void cprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* memcpy and memset are also what the compiler calls for struct copies. */
int strncmp(const char *a, const char *b, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);

/* Write @code to the debug-exit port; never returns. */
__attribute__((noreturn)) void debug_exit(uint32_t code);
__attribute__((noreturn)) void halt_forever(void);

/* Interrupts: vectors 0-31 are exceptions, 32-47 may carry handlers. */
#define IRQ_VECTOR_FIRST	32
#define IRQ_VECTOR_LAST		47
#define SPURIOUS_VECTOR		47

/* What vectors.S saves; trap() and trap hooks see it. */
struct trap_frame {
	uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

/*
 * When set, exceptions (vectors 0-31) go to this hook instead of ending the
 * run; it resumes the payload at whatever f->rip it leaves.
 */
extern void (*trap_hook)(struct trap_frame *f);

void idt_init(void);		/* builds and loads the IDT */
/* Let CPL @dpl use gate @vector (int n), and switch to IST stack @ist (0: none) for it. */
void idt_set_gate(int vector, int dpl, int ist);
void idt_load(void);		/* loads it on an AP */
void irq_set_handler(int vector, void (*fn)(void));	/* sends EOI after fn */

/* Local APIC and IOAPIC. */
#define LAPIC_ID	0x20
#define LAPIC_EOI	0xb0
#define LAPIC_SVR	0xf0
#define LAPIC_ICR_LO	0x300
#define LAPIC_ICR_HI	0x310
#define LAPIC_LVT_TIMER	0x320
#define LAPIC_LVT_LINT0	0x350
#define LAPIC_LVT_LINT1	0x360
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_DIV	0x3e0
#define LAPIC_LVT_MASKED (1u << 16)
#define LAPIC_TIMER_PERIODIC (1u << 17)

uint32_t lapic_read(uint32_t reg);
void lapic_write(uint32_t reg, uint32_t v);
uint32_t lapic_id(void);
void lapic_enable(void);	/* also masks LINT0/1 and the 8259 PICs */
void lapic_send_ipi(uint32_t apic_id, uint32_t icr_lo);
/* Timer interval in us, for a 1 GHz APIC bus (KVM, QEMU); up to 68 s. */
void lapic_timer_start(int vector, uint32_t us, int periodic);
void ioapic_route(int pin, int vector, uint32_t apic_id);

/* i8254 PIT channel 0. */
#define PIT_HZ		1193182
void pit_periodic(uint32_t hz);
void pit_delay_ms(uint32_t ms);	/* busy-waits on the PIT; leaves channel 0 idle */

/* SMP: CPUs from the MP table and AP start-up (APIC ids below SMP_MAX_CPUS). */
#define SMP_MAX_CPUS	16
int mptable_apic_ids(uint8_t *ids, int max);	/* CPU count, or -1 without a table */
int mptable_isa_irq_pin(int irq);	/* IOAPIC pin of an ISA IRQ, or -1 if not listed */
int smp_start_ap(uint32_t apic_id, void (*fn)(void));	/* 0 once @fn runs on it */

#endif
