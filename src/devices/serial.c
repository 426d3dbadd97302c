/*
 * A 16550A UART as Linux's 8250 driver sees it: divisor latch, FIFO with
 * the IIR priority scheme, loopback for the driver's probe, and THR-empty and
 * receive interrupts on an irqchip line. Transmitted bytes go to the console
 * (or nowhere, when it is switched off) at once, so the transmitter is
 * always empty.
 */
#include <stdlib.h>

#include "spry/console.h"
#include "spry/devices.h"

enum {
	UART_RBR_THR = 0, UART_IER = 1, UART_IIR_FCR = 2, UART_LCR = 3,
	UART_MCR = 4, UART_LSR = 5, UART_MSR = 6, UART_SCR = 7,
};

#define IER_RDI		0x01	/* receive data available */
#define IER_THRI	0x02	/* transmitter holding register empty */
#define IER_RLSI	0x04	/* receiver line status */
#define IER_MSI		0x08	/* modem status */
#define IIR_NO_INT	0x01
#define IIR_MSI		0x00
#define IIR_THRI	0x02
#define IIR_RDI		0x04
#define IIR_FIFO_ON	0xc0
#define FCR_ENABLE	0x01
#define FCR_CLEAR_RX	0x02
#define LCR_DLAB	0x80
#define MCR_LOOP	0x10
#define LSR_DR		0x01
#define LSR_THRE	0x20
#define LSR_TEMT	0x40
#define MSR_DELTA_MASK	0x0f
#define MSR_CTS		0x10
#define MSR_DSR		0x20
#define MSR_DCD		0x80

#define RX_FIFO_SIZE	64

struct serial {
	struct bus_device dev;
	struct vm *vm;
	struct console *con;
	unsigned int irq;
	uint8_t ier, lcr, mcr, msr, scr, fcr;
	uint16_t divisor;
	bool thr_empty_pending;	/* a THR-empty interrupt is owed until IIR reports it */
	int irq_level;
	uint8_t rx[RX_FIFO_SIZE];
	unsigned int rx_head, rx_count;
};

static uint8_t serial_iir(const struct serial *s)
{
	uint8_t fifo = (s->fcr & FCR_ENABLE) ? IIR_FIFO_ON : 0;

	if ((s->ier & IER_RDI) && s->rx_count)
		return fifo | IIR_RDI;
	if ((s->ier & IER_THRI) && s->thr_empty_pending)
		return fifo | IIR_THRI;
	if ((s->ier & IER_MSI) && (s->msr & MSR_DELTA_MASK))
		return fifo | IIR_MSI;
	return fifo | IIR_NO_INT;
}

static void serial_update_irq(struct serial *s)
{
	int level = !(serial_iir(s) & IIR_NO_INT);

	if (level != s->irq_level) {
		s->irq_level = level;
		vm_irq_line(s->vm, s->irq, level);
	}
}

static void rx_push(struct serial *s, uint8_t ch)
{
	if (s->rx_count < RX_FIFO_SIZE)
		s->rx[(s->rx_head + s->rx_count++) % RX_FIFO_SIZE] = ch;
}

static uint8_t rx_pop(struct serial *s)
{
	uint8_t ch;

	if (!s->rx_count)
		return 0;
	ch = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % RX_FIFO_SIZE;
	s->rx_count--;
	return ch;
}

/* In loopback the modem inputs mirror the outputs: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. */
static uint8_t serial_msr(const struct serial *s)
{
	if (s->mcr & MCR_LOOP)
		return (uint8_t)(((s->mcr & 0x02) << 3) | ((s->mcr & 0x01) << 5) |
				 ((s->mcr & 0x04) << 4) | ((s->mcr & 0x08) << 4));
	return s->msr;
}

static void serial_transmit(struct serial *s, uint8_t ch)
{
	if (s->mcr & MCR_LOOP)
		rx_push(s, ch);
	else if (s->con)
		console_write(s->con, &ch, 1);
	s->thr_empty_pending = true;
}

static void serial_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct serial *s = opaque;
	uint8_t *v = data;

	if (len != 1)
		return;		/* the bus filled it with ones */
	switch (off) {
	case UART_RBR_THR:
		*v = (s->lcr & LCR_DLAB) ? (uint8_t)s->divisor : rx_pop(s);
		break;
	case UART_IER:
		*v = (s->lcr & LCR_DLAB) ? (uint8_t)(s->divisor >> 8) : s->ier;
		break;
	case UART_IIR_FCR:
		*v = serial_iir(s);
		if ((*v & 0x0f) == IIR_THRI)
			s->thr_empty_pending = false;
		break;
	case UART_LCR:
		*v = s->lcr;
		break;
	case UART_MCR:
		*v = s->mcr;
		break;
	case UART_LSR:
		*v = LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0);
		break;
	case UART_MSR:
		*v = serial_msr(s);
		s->msr &= ~MSR_DELTA_MASK;
		break;
	case UART_SCR:
		*v = s->scr;
		break;
	}
	serial_update_irq(s);
}

static void serial_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct serial *s = opaque;
	uint8_t v = *(const uint8_t *)data;

	if (len != 1)
		return;
	switch (off) {
	case UART_RBR_THR:
		if (s->lcr & LCR_DLAB)
			s->divisor = (uint16_t)((s->divisor & 0xff00) | v);
		else
			serial_transmit(s, v);
		break;
	case UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->divisor = (uint16_t)((s->divisor & 0x00ff) | (v << 8));
			break;
		}
		/* Enabling THRI with an empty transmitter raises it, as on hardware. */
		if (!(s->ier & IER_THRI) && (v & IER_THRI))
			s->thr_empty_pending = true;
		s->ier = v & 0x0f;
		break;
	case UART_IIR_FCR:
		s->fcr = v & 0xc9;
		if (v & FCR_CLEAR_RX)
			s->rx_head = s->rx_count = 0;
		break;
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		s->mcr = v & 0x1f;
		break;
	case UART_SCR:
		s->scr = v;
		break;
	}
	serial_update_irq(s);
}

size_t serial_rx_room(struct serial *s)
{
	size_t room;

	pthread_mutex_lock(&s->dev.lock);
	room = RX_FIFO_SIZE - s->rx_count;
	pthread_mutex_unlock(&s->dev.lock);
	return room;
}

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&s->dev.lock);
	/* In loopback the line is disconnected from the outside world. */
	if (!(s->mcr & MCR_LOOP))
		for (; n < len && s->rx_count < RX_FIFO_SIZE; n++)
			rx_push(s, buf[n]);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->dev.lock);
	return n;
}

struct serial *serial_init(struct vm *vm, uint16_t port, unsigned int irq, struct console *con)
{
	struct serial *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->vm = vm;
	s->con = con;
	s->irq = irq;
	s->msr = MSR_DCD | MSR_DSR | MSR_CTS;
	s->divisor = 12;	/* 9600 baud, what firmware leaves */
	s->dev = (struct bus_device){
		.name = "serial", .base = port, .size = 8, .opaque = s,
		.read = serial_read, .write = serial_write,
	};
	return bus_add_owned(&vm->pio, &s->dev) ? NULL : s;
}
