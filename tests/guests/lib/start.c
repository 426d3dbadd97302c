/*
 * From the entry code to main(): the IDT, the exit paths, and what the
 * loader handed over (multiboot info, hvm_start_info or Linux boot_params).
 */
#include "guest.h"

#define MB_INFO_CMDLINE		(1u << 2)
#define PVH_MAGIC		0x336ec578
#define BP_EXT_CMD_LINE_PTR	0x0c8
#define BP_CMD_LINE_PTR		0x228

void lib_start(void);	/* from entry.S, on the boot CPU stack */

void lib_start(void)
{
	idt_init();
	debug_exit(main());
}

void halt_forever(void)
{
	for (;;)
		asm volatile("cli; hlt");
}

void debug_exit(uint32_t code)
{
	outl(SPRY_PORT_DEBUG_EXIT, code);
	halt_forever();
}

const char *boot_kind_name(void)
{
	switch (boot_kind) {
	case BOOT_KIND_MULTIBOOT:
		return "multiboot";
	case BOOT_KIND_PVH:
		return "pvh";
	case BOOT_KIND_LINUX64:
		return "linux64";
	}
	return "unknown";
}

static uint32_t read32(uint64_t addr)
{
	return *(const uint32_t *)addr;
}

const char *boot_cmdline(void)
{
	uint64_t p = 0;

	switch (boot_kind) {
	case BOOT_KIND_MULTIBOOT:
		if (read32(boot_info) & MB_INFO_CMDLINE)
			p = read32(boot_info + 16);
		break;
	case BOOT_KIND_PVH:
		if (read32(boot_info) == PVH_MAGIC)
			p = *(const uint64_t *)(boot_info + 24);
		break;
	case BOOT_KIND_LINUX64:
		p = read32(boot_info + BP_CMD_LINE_PTR) |
		    (uint64_t)read32(boot_info + BP_EXT_CMD_LINE_PTR) << 32;
		break;
	}
	return p ? (const char *)p : "";
}

bool cmdline_uint(const char *key, uint32_t *value)
{
	size_t klen = 0;
	const char *p;

	while (key[klen])
		klen++;
	for (p = boot_cmdline(); *p; p++)
		if (!strncmp(p, key, klen) && p[klen] == '=')
			break;
	if (!*p)
		return false;
	*value = 0;
	for (p += klen + 1; *p >= '0' && *p <= '9'; p++)
		*value = *value * 10 + (uint32_t)(*p - '0');
	return true;
}
