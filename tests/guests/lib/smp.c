/*
 * The MP table spry writes (floating pointer in 0xf0000-0xfffff) and AP
 * start-up with INIT-SIPI-SIPI through the real-mode trampoline. APs are
 * started one at a time: they share the trampoline and ap_stack_top.
 */
#include "guest.h"

#define MPF_SCAN_START		0xf0000
#define MPF_SCAN_END		0x100000
#define MP_ENTRY_CPU		0
#define MP_ENTRY_BUS		1
#define MP_ENTRY_IOINT		3
#define MP_CPU_ENABLED		0x1
#define TRAMPOLINE_ADDR		0x7000	/* in the boot stack page spry leaves behind */
#define ICR_INIT		0x4500
#define ICR_STARTUP		0x4600
#define AP_STACK_SIZE		2048

void ap_main(void);	/* from trampoline.S, on ap_stack_top */

uint64_t ap_stack_top;
extern const char ap_tramp_start[], ap_tramp_end[];
static void (*volatile ap_fn)(void);
static volatile int ap_running;
static uint8_t ap_stacks[SMP_MAX_CPUS][AP_STACK_SIZE] __attribute__((aligned(16)));

static uint8_t checksum(const uint8_t *p, uint32_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return sum;
}

/* The MP configuration table, or NULL when missing or corrupt. */
static const uint8_t *mptable_config(void)
{
	const uint8_t *p, *cfg;

	for (p = (const uint8_t *)MPF_SCAN_START;
	     p < (const uint8_t *)MPF_SCAN_END; p += 16) {
		if (strncmp((const char *)p, "_MP_", 4) || checksum(p, 16))
			continue;
		cfg = (const uint8_t *)(uint64_t)*(const uint32_t *)(p + 4);
		if (!cfg || strncmp((const char *)cfg, "PCMP", 4) ||
		    checksum(cfg, *(const uint16_t *)(cfg + 4)))
			return NULL;
		return cfg;
	}
	return NULL;
}

/* Calls @fn on each entry of the base table; stops when it returns nonzero. */
static int mptable_walk(int (*fn)(const uint8_t *e, void *arg), void *arg)
{
	const uint8_t *cfg = mptable_config(), *e;
	int n;

	if (!cfg)
		return -1;
	e = cfg + 0x2c;
	for (n = *(const uint16_t *)(cfg + 0x22); n; n--) {
		if (fn(e, arg))
			break;
		e += e[0] == MP_ENTRY_CPU ? 20 : 8;
	}
	return 0;
}

struct id_list {
	uint8_t *ids;
	int n, max;
};

static int collect_cpu(const uint8_t *e, void *arg)
{
	struct id_list *l = arg;

	if (e[0] == MP_ENTRY_CPU && (e[3] & MP_CPU_ENABLED) && l->n < l->max)
		l->ids[l->n++] = e[1];
	return 0;
}

int mptable_apic_ids(uint8_t *ids, int max)
{
	struct id_list l = { ids, 0, max };

	return mptable_walk(collect_cpu, &l) ? -1 : l.n;
}

struct isa_irq {
	int irq, pin, bus;
};

static int match_isa_irq(const uint8_t *e, void *arg)
{
	struct isa_irq *q = arg;

	/* Bus entries (id, type string) come before the interrupt entries. */
	if (e[0] == MP_ENTRY_BUS && !strncmp((const char *)e + 2, "ISA", 3))
		q->bus = e[1];
	/* I/O interrupt: type, INT type, flags(2), bus, bus irq, apic, pin */
	if (e[0] != MP_ENTRY_IOINT || e[1] != 0 || e[4] != q->bus ||
	    e[5] != q->irq)
		return 0;
	q->pin = e[7];
	return 1;
}

int mptable_isa_irq_pin(int irq)
{
	struct isa_irq q = { irq, -1, -1 };

	mptable_walk(match_isa_irq, &q);
	return q.pin;
}

void ap_main(void)
{
	void (*fn)(void) = ap_fn;

	idt_load();
	ap_running = 1;
	fn();
	halt_forever();
}

int smp_start_ap(uint32_t apic_id, void (*fn)(void))
{
	uint32_t sipi = ICR_STARTUP | TRAMPOLINE_ADDR >> 12;
	int ms, tries;

	if (apic_id >= SMP_MAX_CPUS)
		return -1;
	memcpy((void *)TRAMPOLINE_ADDR, ap_tramp_start,
	       ap_tramp_end - ap_tramp_start);
	ap_stack_top = (uint64_t)ap_stacks[apic_id] + AP_STACK_SIZE;
	ap_fn = fn;
	ap_running = 0;

	lapic_send_ipi(apic_id, ICR_INIT);
	pit_delay_ms(10);
	for (tries = 0; tries < 2 && !ap_running; tries++) {
		lapic_send_ipi(apic_id, sipi);
		for (ms = 0; ms < 500 && !ap_running; ms++)
			pit_delay_ms(1);
	}
	return ap_running ? 0 : -1;
}
