/*
 * Mapping input files read-only. Errors name the file and what it was meant
 * to be, since that is the line the user sees.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spry/file.h"

int map_file(const char *path, const char *what, struct mapped_file *f, char *err, size_t len)
{
	const char *why = NULL;
	struct stat st;
	void *p;
	int fd;

	f->data = NULL;
	f->size = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, len, "cannot read %s '%s': %s", what, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0)
		why = strerror(errno);
	else if (S_ISDIR(st.st_mode))
		why = "is a directory";
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	else if (st.st_size == 0)
		why = "file is empty";
	if (why) {
		snprintf(err, len, "cannot read %s '%s': %s", what, path, why);
		close(fd);
		return -1;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		snprintf(err, len, "cannot read %s '%s': %s", what, path, strerror(errno));
		return -1;
	}
	f->data = p;
	f->size = (size_t)st.st_size;
	return 0;
}

void unmap_file(struct mapped_file *f)
{
	if (f->data)
		munmap((void *)f->data, f->size);
	f->data = NULL;
	f->size = 0;
}
