/*
 * Read-only file mappings for kernels and initrds: no copy, and the size is
 * known up front so loaders can bound every read.
 */
#ifndef SPRY_FILE_H
#define SPRY_FILE_H

#include <stddef.h>
#include <stdint.h>

struct mapped_file {
	const uint8_t *data;
	size_t size;
};

/* Map @path; 0, or -1 with "cannot read <what> 'path': reason" in @err. */
int map_file(const char *path, const char *what, struct mapped_file *f, char *err, size_t len);
void unmap_file(struct mapped_file *f);

#endif
