/*
 * virtio-rng: reads bytes=N (default 4096) of entropy in requests of up to
 * 1 KiB, four in flight, and checks they are neither all zero nor one
 * repeated byte. A device may fill less than a whole buffer; it is asked
 * again until N bytes have arrived.
 */
#include "virtio.h"

#define CHUNK	1024
#define NREQ	4

int main(void)
{
	struct vdev dev;
	struct vq *vq;
	uint64_t want = 4096, got = 0, requests = 0;
	uint8_t *data, *stage;
	uint32_t counts[256];
	unsigned int distinct = 0;

	cmdline_u64("bytes", &want);
	if (virtio_find(&dev, VIRTIO_ID_RNG, 0) || virtio_init(&dev, 0) ||
	    virtio_queue_setup(&dev, 0, 8) || virtio_driver_ok(&dev))
		return GUEST_FAIL;
	vq = &dev.vq[0];
	data = virtio_alloc(want + CHUNK, 4096);
	stage = virtio_alloc(NREQ * CHUNK, 4096);

	/* Each request has its own staging buffer; arrivals are appended to data. */
	while (got < want) {
		uint64_t before = got;
		unsigned int n;

		for (n = 0; n < NREQ && got + n * CHUNK < want; n++) {
			struct vbuf b = { stage + n * CHUNK, CHUNK, true };

			if (vq_add(vq, &b, 1) < 0)
				return GUEST_FAIL;
		}
		vq_kick(vq);
		for (unsigned int i = 0; i < n; i++) {
			uint32_t len;
			int head = vq_wait(vq, &len);

			if (len > CHUNK) {
				cprintf("virtio-rng: FAIL: used length %u for a %u byte buffer\n",
					len, CHUNK);
				return GUEST_FAIL;
			}
			requests++;
			if (len > want - got)
				len = want - got;
			memcpy(data + got, (uint8_t *)vq->desc[head].addr, len);
			got += len;
		}
		if (got == before) {
			cprintf("virtio-rng: FAIL: %u requests returned no bytes\n", n);
			return GUEST_FAIL;
		}
	}
	memset(counts, 0, sizeof(counts));
	for (uint64_t i = 0; i < got; i++)
		if (!counts[data[i]]++)
			distinct++;
	cprintf("virtio-rng: %lu bytes in %lu requests, %u distinct byte values\n", got,
		requests, distinct);
	if (distinct < 2) {
		cprintf("virtio-rng: FAIL: all bytes are %x\n", data[0]);
		return GUEST_FAIL;
	}
	if (got >= 4096 && distinct < 200) {
		cprintf("virtio-rng: FAIL: only %u distinct values in %lu bytes\n", distinct, got);
		return GUEST_FAIL;
	}
	cprintf("virtio-rng: ok\n");
	return GUEST_PASS;
}
