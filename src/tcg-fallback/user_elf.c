/*
 * The linux-user runner's loader: a static x86-64 ELF (ET_EXEC at its link
 * address, or a static-pie ET_DYN wherever the host puts it) copied into
 * anonymous guest memory, and the initial stack as Linux builds it: argc,
 * argv, envp, the auxiliary vector, the strings and AT_RANDOM's bytes.
 */
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "user.h"

#define PAGE 4096ULL
#define MAX_PHNUM 64
#define MAX_SPAN (1ULL << 32)

static uint64_t page_down(uint64_t a)
{
	return a & ~(PAGE - 1);
}

static uint64_t page_up(uint64_t a)
{
	return (a + PAGE - 1) & ~(PAGE - 1);
}

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static bool read_exact(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, off);

		if (n <= 0)
			return false;
		p += n;
		len -= n;
		off += n;
	}
	return true;
}

static int check_header(const Elf64_Ehdr *eh, char *err, size_t errlen)
{
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG))
		return fail(err, errlen, "not an ELF file");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64)
		return fail(err, errlen, "not an x86-64 ELF");
	if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)
		return fail(err, errlen, "not an executable (ELF type %u)", eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || !eh->e_phnum || eh->e_phnum > MAX_PHNUM)
		return fail(err, errlen, "bad program header table");
	return 0;
}

/* Check the segments and find the span they cover. */
static int check_segments(const Elf64_Phdr *ph, int n, uint64_t fsize, uint64_t *lo,
			  uint64_t *hi, char *err, size_t errlen)
{
	*lo = UINT64_MAX;
	*hi = 0;
	for (int i = 0; i < n; i++) {
		if (ph[i].p_type == PT_INTERP)
			return fail(err, errlen, "dynamically linked (PT_INTERP): only static "
				    "binaries run under spry user");
		if (ph[i].p_type != PT_LOAD)
			continue;
		if (ph[i].p_filesz > ph[i].p_memsz || ph[i].p_offset > fsize ||
		    ph[i].p_filesz > fsize - ph[i].p_offset ||
		    ph[i].p_vaddr + ph[i].p_memsz < ph[i].p_vaddr)
			return fail(err, errlen, "segment %d lies outside the file or wraps", i);
		if (page_down(ph[i].p_vaddr) < *lo)
			*lo = page_down(ph[i].p_vaddr);
		if (page_up(ph[i].p_vaddr + ph[i].p_memsz) > *hi)
			*hi = page_up(ph[i].p_vaddr + ph[i].p_memsz);
	}
	if (*lo >= *hi)
		return fail(err, errlen, "no loadable segment");
	if (*hi - *lo > MAX_SPAN)
		return fail(err, errlen, "segments span more than 4 GiB");
	return 0;
}

static int seg_prot(uint32_t flags)
{
	return (flags & PF_R ? PROT_READ : 0) | (flags & PF_W ? PROT_WRITE : 0) |
	       (flags & PF_X ? PROT_EXEC : 0);
}

/*
 * Give each page the union of the protections of the segments on it; pages
 * in no segment are unmapped again. Records the guest regions.
 */
static int protect_pages(struct user_space *as, const Elf64_Phdr *ph, int n,
			 const struct user_image *img)
{
	size_t npages = (img->hi - img->lo) / PAGE, i = 0;
	uint8_t *prot = calloc(npages, 1);

	if (!prot)
		return -ENOMEM;
	for (int k = 0; k < n; k++) {
		uint64_t s, e;

		if (ph[k].p_type != PT_LOAD)
			continue;
		s = page_down(ph[k].p_vaddr + img->bias) - img->lo;
		e = page_up(ph[k].p_vaddr + img->bias + ph[k].p_memsz) - img->lo;
		for (uint64_t p = s / PAGE; p < e / PAGE; p++)
			prot[p] |= seg_prot(ph[k].p_flags) | 0x80;	/* 0x80: in a segment */
	}
	while (i < npages) {
		size_t j = i;
		uint64_t start = img->lo + i * PAGE, len;
		int p = prot[i] & 0x7f;

		while (j < npages && prot[j] == prot[i])
			j++;
		len = (j - i) * PAGE;
		if (!(prot[i] & 0x80)) {
			munmap((void *)(uintptr_t)start, len);
		} else if (mprotect((void *)(uintptr_t)start, len, uspace_host_prot(p)) ||
			   uspace_set(as, start, start + len, p)) {
			free(prot);
			return -ENOMEM;
		}
		i = j;
	}
	free(prot);
	return 0;
}

/* Where the program headers are in memory: PT_PHDR, or the segment holding them. */
static uint64_t find_phdr(const Elf64_Ehdr *eh, const Elf64_Phdr *ph, int n, uint64_t bias)
{
	for (int i = 0; i < n; i++)
		if (ph[i].p_type == PT_PHDR)
			return ph[i].p_vaddr + bias;
	for (int i = 0; i < n; i++)
		if (ph[i].p_type == PT_LOAD && eh->e_phoff >= ph[i].p_offset &&
		    eh->e_phoff + n * sizeof(*ph) <= ph[i].p_offset + ph[i].p_filesz)
			return ph[i].p_vaddr + (eh->e_phoff - ph[i].p_offset) + bias;
	return 0;
}

int user_load_elf(struct user_space *as, int fd, struct user_image *img, char *err,
		  size_t errlen)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[MAX_PHNUM];
	struct stat st;
	uint64_t lo, hi;
	void *base;

	memset(img, 0, sizeof(*img));
	if (fstat(fd, &st) || !read_exact(fd, &eh, sizeof(eh), 0))
		return fail(err, errlen, "not an ELF file (too short)");
	if (check_header(&eh, err, errlen))
		return -1;
	if (!read_exact(fd, ph, eh.e_phnum * sizeof(ph[0]), eh.e_phoff))
		return fail(err, errlen, "truncated program header table");
	if (check_segments(ph, eh.e_phnum, st.st_size, &lo, &hi, err, errlen))
		return -1;
	if (eh.e_type == ET_EXEC) {
		base = mmap((void *)(uintptr_t)lo, hi - lo, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (base == MAP_FAILED || base != (void *)(uintptr_t)lo) {
			if (base != MAP_FAILED)
				munmap(base, hi - lo);
			return fail(err, errlen, "cannot map %#llx-%#llx: in use by spry",
				    (unsigned long long)lo, (unsigned long long)hi);
		}
	} else {
		base = mmap(NULL, hi - lo, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
		if (base == MAP_FAILED)
			return fail(err, errlen, "cannot map %llu bytes",
				    (unsigned long long)(hi - lo));
	}
	img->bias = (uintptr_t)base - lo;
	img->lo = (uintptr_t)base;
	img->hi = (uintptr_t)base + (hi - lo);
	for (int i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && ph[i].p_filesz &&
		    !read_exact(fd, (void *)(uintptr_t)(ph[i].p_vaddr + img->bias),
				ph[i].p_filesz, ph[i].p_offset)) {
			munmap(base, hi - lo);
			return fail(err, errlen, "cannot read segment %d", i);
		}
	}
	if (protect_pages(as, ph, eh.e_phnum, img)) {
		munmap(base, hi - lo);
		uspace_clear(as, img->lo, img->hi);
		return fail(err, errlen, "out of memory");
	}
	img->entry = eh.e_entry + img->bias;
	img->phdr = find_phdr(&eh, ph, eh.e_phnum, img->bias);
	img->phnum = eh.e_phnum;
	return 0;
}

/* Builds the stack downwards from its top. */
struct stack {
	uint8_t *p;
};

static uint64_t push_bytes(struct stack *s, const void *data, size_t len)
{
	s->p -= len;
	memcpy(s->p, data, len);
	return (uintptr_t)s->p;
}

static int count(char *const v[])
{
	int n = 0;

	while (v && v[n])
		n++;
	return n;
}

int user_setup_stack(struct user_space *as, const struct user_image *img, int argc,
		     char *const argv[], char *const envp[], const char *execfn, uint64_t *sp)
{
	int envc = count(envp), nwords, k = 0;
	size_t strings = strlen(execfn) + 1 + 64;
	uint64_t *words, execfn_at, random_at, platform_at;
	uint32_t cpuid1[4];
	uint8_t rnd[16];
	struct stack s;
	void *base;

	for (int i = 0; i < argc; i++)
		strings += strlen(argv[i]) + 1;
	for (int i = 0; i < envc; i++)
		strings += strlen(envp[i]) + 1;
	nwords = 1 + argc + 1 + envc + 1 + 2 * 24;
	if (strings + 8 * nwords + 64 > USER_STACK_SIZE / 4)
		return -E2BIG;
	words = calloc(nwords, sizeof(*words));
	if (!words)
		return -ENOMEM;
	base = mmap(NULL, USER_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (base == MAP_FAILED || uspace_set(as, (uintptr_t)base,
					     (uintptr_t)base + USER_STACK_SIZE,
					     PROT_READ | PROT_WRITE)) {
		if (base != MAP_FAILED)
			munmap(base, USER_STACK_SIZE);
		free(words);
		return -ENOMEM;
	}
	s.p = (uint8_t *)base + USER_STACK_SIZE - 8;	/* 8 zero bytes at the very top */
	execfn_at = push_bytes(&s, execfn, strlen(execfn) + 1);
	words[k++] = argc;
	/* argv and envp strings in order, the pointers filled as they are pushed (backwards) */
	for (int i = envc - 1; i >= 0; i--)
		words[1 + argc + 1 + i] = push_bytes(&s, envp[i], strlen(envp[i]) + 1);
	for (int i = argc - 1; i >= 0; i--)
		words[1 + i] = push_bytes(&s, argv[i], strlen(argv[i]) + 1);
	k = 1 + argc + 1 + envc + 1;
	platform_at = push_bytes(&s, "x86_64", 7);
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		memset(rnd, 0x5a, sizeof(rnd));
	s.p = (uint8_t *)((uintptr_t)s.p & ~15ULL);
	random_at = push_bytes(&s, rnd, sizeof(rnd));
#define AUX(t, v) (words[k++] = (t), words[k++] = (v))
	AUX(AT_PHDR, img->phdr);
	AUX(AT_PHENT, sizeof(Elf64_Phdr));
	AUX(AT_PHNUM, img->phnum);
	AUX(AT_PAGESZ, PAGE);
	AUX(AT_BASE, 0);
	AUX(AT_FLAGS, 0);
	AUX(AT_ENTRY, img->entry);
	AUX(AT_UID, getuid());
	AUX(AT_EUID, geteuid());
	AUX(AT_GID, getgid());
	AUX(AT_EGID, getegid());
	AUX(AT_SECURE, 0);
	AUX(AT_RANDOM, random_at);
	tcg_cpuid(1, 0, cpuid1);
	AUX(AT_HWCAP, cpuid1[3]);	/* leaf 1 EDX, as Linux reports it */
	AUX(AT_HWCAP2, 0);
	AUX(AT_CLKTCK, sysconf(_SC_CLK_TCK));
	AUX(AT_PLATFORM, platform_at);
	AUX(AT_EXECFN, execfn_at);
	AUX(AT_NULL, 0);
#undef AUX
	/* argc at a 16-byte aligned stack pointer, as the x86-64 ABI requires */
	s.p = (uint8_t *)(((uintptr_t)s.p - 8 * k) & ~15ULL);
	memcpy(s.p, words, 8 * k);
	free(words);
	*sp = (uintptr_t)s.p;
	return 0;
}
