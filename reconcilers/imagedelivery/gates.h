/* The scan gate of the ImageDelivery reconciler (DESIGN.md section 3: verify -> scan -> copy ->
 * sign). The reconciler calls the gate for every selected source digest before any target is
 * written; the scanner implements it (scan/gate.h: struct sl_scan_gate, its return codes)
 * and the wiring (reconcilers/wiring.c) installs it with sl_imagedelivery_set_scan_gate().
 *
 * With spec.scanPolicyRef set and no gate installed, the reconciler blocks the tag safely:
 * Scanned=Unknown reason ScannerUnavailable, the tag is not delivered (Synced=False) and the
 * message says scanning is not available in this controller. */
#ifndef SL_IMAGEDELIVERY_GATES_H
#define SL_IMAGEDELIVERY_GATES_H

#include "scan/gate.h"

/* Installs the process-wide attestation gate (copied; NULL removes it). */
void sl_imagedelivery_set_attest_gate(const struct sl_attest_gate *gate);

/* Copies the installed attestation gate into *out; returns 1 when one is installed, else 0. */
int sl_imagedelivery_get_attest_gate(struct sl_attest_gate *out);

/* Installs the process-wide scan gate used by every ImageDelivery reconciler (gate copied; NULL
 * removes it). Safe to call at any time from any thread; reconciles that already started use the
 * gate they read at their start. */
void sl_imagedelivery_set_scan_gate(const struct sl_scan_gate *gate);

/* Copies the installed gate into *out; returns 1 when one is installed, else 0. */
int sl_imagedelivery_get_scan_gate(struct sl_scan_gate *out);

#endif
