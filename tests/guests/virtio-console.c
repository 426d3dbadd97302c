/*
 * virtio-console echo: every byte read from port 0's receiveq is written
 * back on its transmitq, until a line "quit". Markers go to the virtio
 * console too ("virtio-console: ..."), since spry's --console stdio turns
 * the serial console off; they are also printed on the serial port.
 */
#include "virtio.h"

#define RXQ		0
#define TXQ		1
#define NRX		8
#define RXLEN		64

static struct vdev dev;
static uint8_t *rx[NRX];
static char *tx;

static void post_rx(unsigned int i)
{
	struct vbuf b = { rx[i], RXLEN, true };
	int head = vq_add(&dev.vq[RXQ], &b, 1);

	if (head < 0) {
		cprintf("virtio-console: FAIL: no free receive descriptor\n");
		debug_exit(GUEST_FAIL);
	}
	vq_kick(&dev.vq[RXQ]);
}

static void send(const void *data, uint32_t len)
{
	struct vbuf b = { tx, len, false };

	memcpy(tx, data, len);
	if (vq_add(&dev.vq[TXQ], &b, 1) < 0) {
		cprintf("virtio-console: FAIL: no free transmit descriptor\n");
		debug_exit(GUEST_FAIL);
	}
	vq_kick(&dev.vq[TXQ]);
	vq_wait(&dev.vq[TXQ], NULL);
}

static void say(const char *s)
{
	uint32_t n = 0;

	while (s[n])
		n++;
	cprintf("%s", s);
	send(s, n);
}

int main(void)
{
	char line[8];
	unsigned int linelen = 0, head_of[NRX];
	uint64_t total = 0;

	if (virtio_find(&dev, VIRTIO_ID_CONSOLE, 0) || virtio_init(&dev, 0) ||
	    virtio_queue_setup(&dev, RXQ, NRX) || virtio_queue_setup(&dev, TXQ, 4) ||
	    virtio_driver_ok(&dev))
		return GUEST_FAIL;
	tx = virtio_alloc(RXLEN + 64, 64);
	for (unsigned int i = 0; i < NRX; i++) {
		rx[i] = virtio_alloc(RXLEN, 64);
		head_of[i] = dev.vq[RXQ].free_head;
		post_rx(i);
	}
	say("virtio-console: ready\n");

	for (;;) {
		uint32_t len;
		int head = vq_wait(&dev.vq[RXQ], &len);
		unsigned int i;
		bool quit = false;

		for (i = 0; i < NRX && head_of[i] != (unsigned int)head; i++)
			;
		if (i == NRX || len > RXLEN) {
			cprintf("virtio-console: FAIL: used id %d length %u\n", head, len);
			return GUEST_FAIL;
		}
		if (len)
			send(rx[i], len);
		total += len;
		for (uint32_t j = 0; j < len; j++) {
			char c = rx[i][j];

			if (c == '\n' || c == '\r') {
				quit |= linelen == 4 && !strncmp(line, "quit", 4);
				linelen = 0;
			} else if (linelen < sizeof(line)) {
				line[linelen++] = c;
			}
		}
		if (quit)
			break;
		head_of[i] = dev.vq[RXQ].free_head;
		post_rx(i);
	}
	cprintf("virtio-console: echoed %lu bytes\n", total);
	say("virtio-console: ok\n");
	return GUEST_PASS;
}
