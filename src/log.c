/*
 * One-line diagnostics on stderr. The serial console may have the terminal in
 * raw mode, so each line ends in "\r\n" only when stderr is a terminal.
 */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "spry/log.h"

__attribute__((format(printf, 1, 0)))
static void vlog(const char *fmt, va_list ap)
{
	char line[512];
	int n;

	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	fprintf(stderr, "spry: %s%s", line, isatty(STDERR_FILENO) ? "\r\n" : "\n");
}

void spry_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void spry_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}
