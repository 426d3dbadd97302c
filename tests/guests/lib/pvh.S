/*
 * The Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY), linked into the PVH
 * variant only: the loader enters pvh_entry in 32-bit flat mode.
 */
#define XEN_ELFNOTE_PHYS32_ENTRY	18

	.section .note.pvh, "a", @note
	.balign 4
	.long 4				/* name size */
	.long 8				/* descriptor size */
	.long XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.balign 4
	.quad pvh_entry
	.balign 4

	.section .note.GNU-stack, "", @progbits
