/*
 * virtio-blk benchmark load: set-up in ring 0, then the hot loops at CPL3
 * (native speed where KVM emulates ring 0), polling the used ring with
 * interrupts suppressed; MMIO (QueueNotify) works at CPL3. RFLAGS.IOPL is 3,
 * but PVM's KVM ignores it (port I/O at CPL3 raises #GP there), so printing
 * and debug-exit go back to ring 0 through kcall(): a ud2 whose #UD handler
 * calls the function in RDI in ring 0 and returns after the ud2.
 * Command line: n=N random 4 KiB reads (default 10000) at qd=Q (32);
 * seqmb=M MiB (64) of sequential 1 MiB reads, then writes, seqqd=Q (4) in
 * flight; event_idx=0 turns EVENT_IDX off; verify=1 checks that each random
 * read starts with "SPRY SECTOR n" (a disk made like virtio-blk's; seqwrite
 * overwrites the first seqmb MiB, so verify needs a fresh image). Windows as
 * for every virtio payload: virtio_base=, virtio_step=, virtio_count=.
 *
 * Timing: the host measures wall time around the whole run, and can time the
 * phases by when their lines appear on the serial console: each phase prints
 * "bench: PHASE start" before its first request and one result line after its
 * last completion. The payload also measures each phase with rdtsc and turns
 * that into microseconds with a TSC rate calibrated against the PIT
 * (tsc_khz=, printed first): "bench: randread n=... us=... iops=...",
 * "bench: seqread bytes=... us=... mbps=...", the same for seqwrite, then
 * "bench: flush tsc=... us=...", "bench: notifies=..." and "bench: done"
 * (mbps: bytes per microsecond, i.e. 10^6 bytes per second). Exit 1
 * (debug-exit 0) on success.
 */
#include "virtio.h"

#define BLK_T_IN		0
#define BLK_T_OUT		1
#define BLK_T_FLUSH		4
#define BLK_F_SEG_MAX		2
#define BLK_F_BLK_SIZE		6
#define BLK_F_FLUSH		9
#define CFG_SEG_MAX		12
#define SECTOR			512
#define RND_SIZE		4096
#define SEQ_SIZE		(1u << 20)
#define MAX_QD			128
#define MAX_SEQ_QD		16

/* GDT: the entry code's three, then user data and code and a 64-bit TSS. */
#define SEL_USER_DS		(0x20 | 3)
#define SEL_USER_CS		(0x28 | 3)
#define SEL_TSS			0x30
#define RFLAGS_IOPL3		0x3000
#define RFLAGS_FIXED		0x2
#define PTE_US			0x4

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct slot {
	struct blk_hdr hdr;
	uint8_t status;
	uint8_t *data;
	struct vq_desc *table;	/* indirect table (sequential requests) */
} __attribute__((aligned(64)));

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

static struct vdev dev;
static struct vq *vq;
static struct slot *slots;
static int16_t slot_of[256];
static uint64_t capacity, n_rand = 10000, qd = 32, seqmb = 64, seqqd = 4, verify;
static unsigned int nseg;
static uint64_t tsc_ms, timeout;

static uint64_t gdt64[8] __attribute__((aligned(16)));
static struct tss tss __attribute__((aligned(16)));
static uint8_t kernel_stack[16384] __attribute__((aligned(16)));
static uint8_t user_stack[65536] __attribute__((aligned(16)));

/* ---- calls from CPL3 into ring 0 ---- */

void bench_ud_entry(void);	/* below: the #UD gate while the bench runs */
uint64_t bench_orig_ud;		/* the library's #UD stub, for a real #UD in ring 0 */

asm(".text\n"
    ".globl bench_ud_entry\n"
    "bench_ud_entry:\n\t"
    "testb $3, 8(%rsp)\n\t"		/* from ring 0: a real #UD */
    "jz 1f\n\t"
    "pushq %rax\n\tpushq %rcx\n\tpushq %rdx\n\tpushq %rsi\n\tpushq %rdi\n\t"
    "pushq %r8\n\tpushq %r9\n\tpushq %r10\n\tpushq %r11\n\t"
    "cld\n\t"
    "call *%rdi\n\t"
    "popq %r11\n\tpopq %r10\n\tpopq %r9\n\tpopq %r8\n\tpopq %rdi\n\t"
    "popq %rsi\n\tpopq %rdx\n\tpopq %rcx\n\tpopq %rax\n\t"
    "addq $2, (%rsp)\n\t"		/* past the ud2 */
    "iretq\n"
    "1:\tjmp *bench_orig_ud(%rip)\n");

/* Run @fn in ring 0 (from CPL3: through #UD; from ring 0: directly). */
static void kcall(void (*fn)(void))
{
	uint16_t cs;

	asm volatile("mov %%cs, %0" : "=r"(cs));
	if (!(cs & 3))
		fn();
	else
		asm volatile("ud2" : : "D"(fn) : "memory");
}

static void hook_ud(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) desc;
	uint64_t *gate, addr = (uint64_t)bench_ud_entry;

	asm volatile("sidt %0" : "=m"(desc));
	gate = (uint64_t *)desc.base + 2 * 6;
	bench_orig_ud = (gate[0] & 0xffff) | (gate[0] >> 48 & 0xffff) << 16 | gate[1] << 32;
	gate[0] = (gate[0] & 0x0000ffffffff0000ULL) | (addr & 0xffff) | (addr >> 16 & 0xffff) << 48;
	gate[1] = addr >> 32;
}

static const char *fail_what;
static uint64_t fail_value;

static void fail_ring0(void)
{
	cprintf("bench: FAIL: %s (%lu)\n", fail_what, fail_value);
	debug_exit(GUEST_FAIL);
}

static __attribute__((noreturn)) void fail(const char *what, uint64_t v)
{
	fail_what = what;
	fail_value = v;
	kcall(fail_ring0);
	__builtin_unreachable();
}

/* ---- the drop to CPL3 (ring 0) ---- */

static void user_mappings(void)
{
	uint64_t cr3, *pml4, *pdpt;

	asm volatile("mov %%cr3, %0" : "=r"(cr3));
	pml4 = (uint64_t *)(cr3 & ~0xfffULL);
	pml4[0] |= PTE_US;
	pdpt = (uint64_t *)(pml4[0] & 0xffffffffff000ULL);
	for (int i = 0; i < 4; i++) {
		uint64_t *pd = (uint64_t *)(pdpt[i] & 0xffffffffff000ULL);

		pdpt[i] |= PTE_US;
		for (int j = 0; j < 512; j++)
			pd[j] |= PTE_US;
	}
	asm volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}

static __attribute__((noreturn)) void enter_user(void (*fn)(void))
{
	uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) desc = { sizeof(gdt64) - 1, (uint64_t)gdt64 };
	/* As if called: RSP + 8 is 16-byte aligned at the function's entry. */
	uint64_t usp = (uint64_t)(user_stack + sizeof(user_stack)) - 8;

	gdt64[1] = 0x00cf9a000000ffffULL;	/* SEL_CODE32 */
	gdt64[2] = 0x00cf92000000ffffULL;	/* SEL_DATA */
	gdt64[3] = 0x00af9a000000ffffULL;	/* SEL_CODE64 */
	gdt64[4] = 0x00cff2000000ffffULL;	/* user data, DPL 3 */
	gdt64[5] = 0x00affa000000ffffULL;	/* user code, 64-bit, DPL 3 */
	gdt64[6] = (limit & 0xffff) | (base & 0xffffff) << 16 | 0x89ULL << 40 |
		   (limit >> 16 & 0xf) << 48 | (base >> 24 & 0xff) << 56;
	gdt64[7] = base >> 32;
	tss.rsp[0] = (uint64_t)(kernel_stack + sizeof(kernel_stack));
	tss.iomap_base = sizeof(tss);	/* no bitmap: IOPL 3 allows every port */
	asm volatile("lgdt %0" : : "m"(desc));
	asm volatile("ltr %w0" : : "r"((uint16_t)SEL_TSS));
	user_mappings();
	asm volatile("pushq %[ss]\n\t"
		     "pushq %[sp]\n\t"
		     "pushq %[fl]\n\t"
		     "pushq %[cs]\n\t"
		     "pushq %[ip]\n\t"
		     "iretq"
		     : : [ss] "i"(SEL_USER_DS), [sp] "r"(usp),
		       [fl] "i"(RFLAGS_IOPL3 | RFLAGS_FIXED), [cs] "i"(SEL_USER_CS),
		       [ip] "r"(fn)
		     : "memory");
	__builtin_unreachable();
}

/* ---- requests (CPL3) ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t xorshift(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void submit(unsigned int i, uint32_t type, uint64_t sector, uint32_t len)
{
	struct slot *s = &slots[i];
	struct vbuf chain[2 + 256];
	unsigned int n = 0;
	int head;

	s->hdr.type = type;
	s->hdr.sector = sector;
	s->status = 0xff;
	chain[n++] = (struct vbuf){ &s->hdr, sizeof(s->hdr), false };
	if (len == RND_SIZE) {
		chain[n++] = (struct vbuf){ s->data, len, type == BLK_T_IN };
	} else if (len) {
		for (unsigned int k = 0; k < nseg; k++)
			chain[n++] = (struct vbuf){ s->data + k * (len / nseg), len / nseg,
						    type == BLK_T_IN };
	}
	chain[n++] = (struct vbuf){ &s->status, 1, true };
	if (len > RND_SIZE && virtio_has(&dev, VIRTIO_F_INDIRECT_DESC))
		head = vq_add_indirect(vq, s->table, chain, n);
	else
		head = vq_add(vq, chain, n);
	if (head < 0)
		fail("no free descriptors", i);
	slot_of[head] = i;
}

/* Next completion's slot, spinning (bounded); checks its status. */
static unsigned int complete(void)
{
	uint64_t t0 = 0;
	int head;

	while ((head = vq_poll(vq, NULL)) < 0) {
		asm volatile("pause");
		if (!t0)
			t0 = rdtsc();
		else if (timeout && rdtsc() - t0 > timeout)
			fail("no completion within the timeout, used idx", vq->used->idx);
	}
	if (slots[slot_of[head]].status != 0)
		fail("request failed with status", slots[slot_of[head]].status);
	return slot_of[head];
}

static uint64_t us(uint64_t ticks)
{
	return ticks * 1000 / tsc_ms;
}

static void check_label(const uint8_t *p, uint64_t sector, uint64_t *bad)
{
	static const char prefix[] = "SPRY SECTOR ";
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < sizeof(prefix) - 1; i++)
		if (p[i] != (uint8_t)prefix[i]) {
			(*bad)++;
			return;
		}
	for (; p[i] >= '0' && p[i] <= '9'; i++)
		v = v * 10 + (p[i] - '0');
	if (v != sector)
		(*bad)++;
}

/* What the phase that just ended measured, printed in ring 0 by report(). */
static struct {
	const char *name;
	uint64_t count, bytes, depth, tsc, bad;
	uint16_t cs;
} r;

static void say_start(void)
{
	cprintf("bench: %s start\n", r.name);
}

static void report(void)
{
	uint64_t t = us(r.tsc);

	if (r.bytes)
		cprintf("bench: %s bytes=%lu qd=%lu tsc=%lu us=%lu mbps=%lu\n", r.name, r.bytes,
			r.depth, r.tsc, t, t ? r.bytes / t : 0);
	else if (r.count)
		cprintf("bench: %s n=%lu qd=%lu tsc=%lu us=%lu iops=%lu\n", r.name, r.count,
			r.depth, r.tsc, t, t ? r.count * 1000000 / t : 0);
	else
		cprintf("bench: %s tsc=%lu us=%lu\n", r.name, r.tsc, t);
	if (verify && r.count && !r.bytes)
		cprintf("bench: %s verify: %lu bad\n", r.name, r.bad);
}

static void say_cpl(void)
{
	cprintf("bench: running at cpl %u\n", r.cs & 3);
}

static void finish(void)
{
	cprintf("bench: notifies=%lu\n", vq->notifies);
	cprintf("bench: done\n");
	debug_exit(GUEST_PASS);
}

static void randread(void)
{
	uint64_t blocks = capacity / (RND_SIZE / SECTOR), issued = 0, done = 0, t0;
	uint64_t sector_of[MAX_QD];

	r = (typeof(r)){ .name = "randread", .depth = qd };
	kcall(say_start);
	t0 = rdtsc();
	for (; issued < qd && issued < n_rand; issued++) {
		sector_of[issued] = xorshift() % blocks * (RND_SIZE / SECTOR);
		submit(issued, BLK_T_IN, sector_of[issued], RND_SIZE);
	}
	vq_kick(vq);
	while (done < n_rand) {
		unsigned int i = complete();

		if (verify)
			check_label(slots[i].data, sector_of[i], &r.bad);
		done++;
		if (issued < n_rand) {
			sector_of[i] = xorshift() % blocks * (RND_SIZE / SECTOR);
			submit(i, BLK_T_IN, sector_of[i], RND_SIZE);
			issued++;
		}
		/* Kick once the completions at hand are all resubmitted. */
		if (vq->used->idx == vq->last_used)
			vq_kick(vq);
	}
	r.tsc = rdtsc() - t0;
	r.count = done;
	kcall(report);
	if (r.bad)
		fail("random reads with the wrong content", r.bad);
}

static void sequential(uint32_t type, const char *name)
{
	uint64_t total = seqmb, issued = 0, done = 0, t0;
	uint64_t span = capacity / (SEQ_SIZE / SECTOR);

	r = (typeof(r)){ .name = name, .depth = seqqd };
	kcall(say_start);
	t0 = rdtsc();
	for (; issued < seqqd && issued < total; issued++)
		submit(issued, type, issued % span * (SEQ_SIZE / SECTOR), SEQ_SIZE);
	vq_kick(vq);
	while (done < total) {
		unsigned int i = complete();

		done++;
		if (issued < total) {
			submit(i, type, issued % span * (SEQ_SIZE / SECTOR), SEQ_SIZE);
			issued++;
		}
		if (vq->used->idx == vq->last_used)
			vq_kick(vq);
	}
	r.tsc = rdtsc() - t0;
	r.count = done;
	r.bytes = done * SEQ_SIZE;
	kcall(report);
}

static __attribute__((noreturn)) void user_main(void)
{
	uint64_t t0;

	asm volatile("mov %%cs, %0" : "=r"(r.cs));
	kcall(say_cpl);
	if (n_rand)
		randread();
	if (seqmb) {
		sequential(BLK_T_IN, "seqread");
		sequential(BLK_T_OUT, "seqwrite");
	}
	if (virtio_has(&dev, BLK_F_FLUSH)) {
		r = (typeof(r)){ .name = "flush" };
		t0 = rdtsc();
		submit(0, BLK_T_FLUSH, 0, 0);
		vq_kick(vq);
		complete();
		r.tsc = rdtsc() - t0;
		kcall(report);
	}
	kcall(finish);
	__builtin_unreachable();
}

/* ---- set-up (ring 0) ---- */

int main(void)
{
	uint64_t want = VIRTIO_F(VIRTIO_F_INDIRECT_DESC) | VIRTIO_F(VIRTIO_F_EVENT_IDX) |
			VIRTIO_F(BLK_F_SEG_MAX) | VIRTIO_F(BLK_F_BLK_SIZE) | VIRTIO_F(BLK_F_FLUSH);
	uint64_t v, ms = 10000, seg_max = 256;
	unsigned int nslots;

	cmdline_u64("n", &n_rand);
	cmdline_u64("qd", &qd);
	cmdline_u64("seqmb", &seqmb);
	cmdline_u64("seqqd", &seqqd);
	cmdline_u64("verify", &verify);
	cmdline_u64("virtio_timeout_ms", &ms);
	if (cmdline_u64("event_idx", &v) && !v)
		want &= ~VIRTIO_F(VIRTIO_F_EVENT_IDX);
	if (!qd || qd > MAX_QD || !seqqd || seqqd > MAX_SEQ_QD)
		fail("qd must be 1-128 and seqqd 1-16", qd);

	if (virtio_find(&dev, VIRTIO_ID_BLOCK, 0) || virtio_init(&dev, want) ||
	    virtio_queue_setup(&dev, 0, 256) || virtio_driver_ok(&dev))
		return GUEST_FAIL;
	vq = &dev.vq[0];
	vq_disable_interrupts(vq);
	capacity = virtio_cfg64(&dev, 0);
	if (virtio_has(&dev, BLK_F_SEG_MAX))
		seg_max = virtio_cfg32(&dev, CFG_SEG_MAX);
	/* 1 MiB in nseg segments; a chain (indirect or not) fits the queue. */
	for (nseg = 256; nseg > 1 && (nseg > seg_max || nseg + 2 > vq->size); nseg /= 2)
		;
	if (!virtio_has(&dev, VIRTIO_F_INDIRECT_DESC) && seqqd * (nseg + 2) > vq->size)
		seqqd = vq->size / (nseg + 2);
	if (qd * 3 > vq->size)
		fail("qd too deep for the queue size", vq->size);
	if (capacity < SEQ_SIZE / SECTOR)
		fail("the disk is smaller than 1 MiB, sectors", capacity);

	nslots = qd > seqqd ? qd : seqqd;
	slots = virtio_alloc(nslots * sizeof(*slots), 64);
	for (unsigned int i = 0; i < nslots; i++) {
		slots[i].data = virtio_alloc_raw(i < seqqd ? SEQ_SIZE : RND_SIZE, 4096);
		slots[i].table = virtio_alloc_raw((nseg + 2) * sizeof(struct vq_desc), 16);
	}
	tsc_ms = tsc_per_ms();
	timeout = ms * tsc_ms;
	cprintf("bench: capacity %lu sectors, queue %u, features %lx, tsc_khz=%lu\n", capacity,
		vq->size, dev.features, tsc_ms);
	cprintf("bench: randread n=%lu qd=%lu; seq %lu MiB in %u x %u KiB segments%s, qd=%lu\n",
		n_rand, qd, seqmb, nseg, SEQ_SIZE / nseg / 1024,
		virtio_has(&dev, VIRTIO_F_INDIRECT_DESC) ? " (indirect)" : "", seqqd);
	hook_ud();
	enter_user(user_main);
}
