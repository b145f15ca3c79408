/* SPDX-License-Identifier: Apache-2.0 */
/* 8250/16550A UART, enough for Linux's 8250 driver and early console. */
#include "vmm/serial.h"
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#define RX_SIZE 4096

#define IER_RDI  0x01
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI  0x04
#define LCR_DLAB 0x80
#define LSR_DR   0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_LOOP 0x10
#define FCR_FIFO 0x01
#define FCR_CLR_RX 0x02

struct kvm_serial {
    pthread_mutex_t lock;
    kvm_serial_irq_cb irq;
    kvm_serial_out_cb out;
    void *ctx;
    uint8_t ier, lcr, mcr, fcr, scr, dll, dlm;
    bool thri_pending;
    int irq_level;
    unsigned long irqs, tx;
    uint8_t rx[RX_SIZE];
    size_t rx_head, rx_len;
};

int kvm_serial_create(kvm_serial_irq_cb irq, kvm_serial_out_cb out, void *ctx,
                      struct kvm_serial **ps)
{
    struct kvm_serial *s = calloc(1, sizeof(*s));

    if (!s)
        return -ENOMEM;
    pthread_mutex_init(&s->lock, NULL);
    s->irq = irq;
    s->out = out;
    s->ctx = ctx;
    s->dll = 12;         /* 9600 baud */
    s->mcr = 0x08;       /* OUT2 */
    *ps = s;
    return 0;
}

void kvm_serial_destroy(struct kvm_serial *s)
{
    if (!s)
        return;
    log_debug("serial: %lu bytes sent, %lu interrupts raised, IER %#x", s->tx, s->irqs, s->ier);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static uint8_t iir(const struct kvm_serial *s)
{
    uint8_t fifo = (s->fcr & FCR_FIFO) ? 0xc0 : 0;

    if ((s->ier & IER_RDI) && s->rx_len)
        return fifo | IIR_RDI;
    if ((s->ier & IER_THRI) && s->thri_pending)
        return fifo | IIR_THRI;
    return fifo | IIR_NONE;
}

/* Called with the lock held. The line is an ISA edge-triggered interrupt:
 * each time an interrupt becomes pending the line is pulsed (raised and
 * lowered), as an irqfd would; the callback only issues KVM_IRQ_LINE. */
static void update_irq(struct kvm_serial *s)
{
    int level = (iir(s) & IIR_NONE) ? 0 : 1;

    if (level && !s->irq_level) {
        s->irqs++;
        if (s->irq) {
            s->irq(s->ctx, 1);
            s->irq(s->ctx, 0);
        }
    }
    s->irq_level = level;
}

void kvm_serial_io(struct kvm_serial *s, unsigned off, uint8_t *data, int is_write)
{
    uint8_t v = *data;

    pthread_mutex_lock(&s->lock);
    if (is_write) {
        switch (off) {
        case 0:
            if (s->lcr & LCR_DLAB) {
                s->dll = v;
            } else if (s->mcr & MCR_LOOP) {
                if (s->rx_len < RX_SIZE)
                    s->rx[(s->rx_head + s->rx_len++) % RX_SIZE] = v;
                s->thri_pending = true;
            } else {
                if (s->out)
                    s->out(s->ctx, &v, 1);
                s->tx++;
                s->thri_pending = true;   /* sent at once: THR empty again */
            }
            break;
        case 1:
            if (s->lcr & LCR_DLAB) {
                s->dlm = v;
            } else {
                if (!(s->ier & IER_THRI) && (v & IER_THRI))
                    s->thri_pending = true;
                s->ier = v & 0x0f;
            }
            break;
        case 2:
            s->fcr = v & 0xc9;
            if (v & FCR_CLR_RX)
                s->rx_len = 0;
            break;
        case 3: s->lcr = v; break;
        case 4: s->mcr = v & 0x1f; break;
        case 7: s->scr = v; break;
        default: break;
        }
    } else {
        switch (off) {
        case 0:
            if (s->lcr & LCR_DLAB) {
                v = s->dll;
            } else if (s->rx_len) {
                v = s->rx[s->rx_head];
                s->rx_head = (s->rx_head + 1) % RX_SIZE;
                s->rx_len--;
            } else {
                v = 0;
            }
            break;
        case 1: v = (s->lcr & LCR_DLAB) ? s->dlm : s->ier; break;
        case 2:
            v = iir(s);
            if ((v & 0x0f) == IIR_THRI)
                s->thri_pending = false;
            break;
        case 3: v = s->lcr; break;
        case 4: v = s->mcr; break;
        case 5: v = LSR_THRE | LSR_TEMT | (s->rx_len ? LSR_DR : 0); break;
        case 6:
            if (s->mcr & MCR_LOOP)
                v = (uint8_t)(((s->mcr & 0x0c) << 4) | ((s->mcr & 0x01) << 5) |
                              ((s->mcr & 0x02) << 3));
            else
                v = 0xb0;        /* DCD, DSR, CTS */
            break;
        case 7: v = s->scr; break;
        default: v = 0xff; break;
        }
        *data = v;
    }
    update_irq(s);
    pthread_mutex_unlock(&s->lock);
}

size_t kvm_serial_input(struct kvm_serial *s, const uint8_t *buf, size_t len)
{
    size_t n = 0;

    pthread_mutex_lock(&s->lock);
    while (n < len && s->rx_len < RX_SIZE) {
        s->rx[(s->rx_head + s->rx_len++) % RX_SIZE] = buf[n++];
    }
    update_irq(s);
    pthread_mutex_unlock(&s->lock);
    return n;
}
