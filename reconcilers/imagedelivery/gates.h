/* The scan gate of the ImageDelivery reconciler (DESIGN.md section 3: verify -> scan -> copy ->
 * sign). The reconciler calls the gate for every selected source digest before any target is
 * written; the scanner implements it (scan/gate.h: struct sl_scan_gate, its return codes)
 * and the wiring (reconcilers/wiring.c) hands it, and the attestation gate, to the reconciler's
 * constructor (struct sl_imagedelivery_deps in imagedelivery/reconciler.h).
 *
 * With spec.scanPolicyRef set and no scan gate given, the reconciler blocks the tag safely:
 * Scanned=Unknown reason ScannerUnavailable, the tag is not delivered (Synced=False) and the
 * message says scanning is not available in this controller. */
#ifndef SL_IMAGEDELIVERY_GATES_H
#define SL_IMAGEDELIVERY_GATES_H

#include "scan/gate.h"

#endif
