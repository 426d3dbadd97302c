/*
 * Multiboot v1 header, linked first into the multiboot variant only. An ELF
 * kernel needs no address fields: the loader uses the program headers.
 */
#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0

	.section .head.multiboot, "a"
	.balign 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.section .note.GNU-stack, "", @progbits
