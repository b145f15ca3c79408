/* SPDX-License-Identifier: Apache-2.0 */
/* An 8250/16550A UART (the COM1 console at 0x3f8, IRQ 4): transmit goes to
 * an output callback, receive bytes are pushed in by the event thread, the
 * interrupt line follows IIR. Thread-safe (vCPU threads and the event
 * thread). */
#ifndef SLUICE_VMM_SERIAL_H
#define SLUICE_VMM_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#define KVM_COM1_PORT 0x3f8
#define KVM_COM1_IRQ  4

/* Set the interrupt line to @level. */
typedef void (*kvm_serial_irq_cb)(void *ctx, int level);
/* Transmit @len bytes (the guest wrote THR). */
typedef void (*kvm_serial_out_cb)(void *ctx, const uint8_t *buf, size_t len);

struct kvm_serial;

/* Returns 0 or -ENOMEM. */
int kvm_serial_create(kvm_serial_irq_cb irq, kvm_serial_out_cb out, void *ctx,
                      struct kvm_serial **s);
void kvm_serial_destroy(struct kvm_serial *s);
/* Port access at @off (0..7) from the base; @data is one byte. */
void kvm_serial_io(struct kvm_serial *s, unsigned off, uint8_t *data, int is_write);
/* Queue received bytes (dropped beyond the 4 KiB buffer). Returns the count
 * taken. */
size_t kvm_serial_input(struct kvm_serial *s, const uint8_t *buf, size_t len);

#endif
