/*
 * Polled output on COM1 and a printf-lite on top of it. The wait for the
 * transmitter is bounded, so a UART that never reports ready cannot hang us.
 */
#include "guest.h"

#define UART_LSR	5
#define UART_LSR_THRE	0x20

void cputc(char c)
{
	int i;

	for (i = 0; i < 100000; i++)
		if (inb(SPRY_PORT_COM1 + UART_LSR) & UART_LSR_THRE)
			break;
	outb(SPRY_PORT_COM1, c);
}

static void put_str(const char *s)
{
	while (*s)
		cputc(*s++);
}

static void put_num(uint64_t v, unsigned int base)
{
	char buf[24];
	int n = 0;

	do {
		buf[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n)
		cputc(buf[--n]);
}

void cprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		int is_long = 0;
		int64_t sv;

		if (*fmt != '%') {
			cputc(*fmt);
			continue;
		}
		if (*++fmt == 'l') {
			is_long = 1;
			fmt++;
		}
		switch (*fmt) {
		case 's':
			put_str(va_arg(ap, const char *));
			break;
		case 'c':
			cputc(va_arg(ap, int));
			break;
		case 'd':
			sv = is_long ? va_arg(ap, long) : va_arg(ap, int);
			if (sv < 0) {
				cputc('-');
				sv = -sv;
			}
			put_num(sv, 10);
			break;
		case 'u':
			put_num(is_long ? va_arg(ap, unsigned long) :
					  va_arg(ap, unsigned int), 10);
			break;
		case 'x':
			put_num(is_long ? va_arg(ap, unsigned long) :
					  va_arg(ap, unsigned int), 16);
			break;
		case 'p':
			put_str("0x");
			put_num((uint64_t)va_arg(ap, void *), 16);
			break;
		case '\0':
			fmt--;
			break;
		default:
			cputc(*fmt);
			break;
		}
	}
	va_end(ap);
}
