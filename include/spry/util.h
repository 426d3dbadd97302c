/*
 * Helpers too small for a module of their own, shared by every part of spry.
 */
#ifndef SPRY_UTIL_H
#define SPRY_UTIL_H

#include <stddef.h>

/* The structure of type @type whose member @member is at @ptr. */
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#endif
