/* The ScanPolicy store: what the ScanPolicy reconciler (reconcilers/scanpolicy) loaded for each
 * policy, and what the gates of scan/policy.h read.
 *
 * Per ScanPolicy namespace/name it holds the spec the database was loaded for, a refcounted
 * database (struct sl_scan_db: the advisory records and malware hashes of the built-in scanner,
 * or a Harbor adapter's settings), the OpenVEX statements of spec.vex (struct sl_scan_vexset)
 * and whether the policy is Ready. A serial changes whenever the spec, the database or the
 * statements change; it is part of every cached answer's key, so a new database or rule
 * rescans. The store also keeps the gate's cached scan answers (bounded LRU, SL_SCAN_CACHE_MAX).
 *
 * A database or statement set is immutable once stored; holders keep it alive with a reference,
 * so a reload never frees what a running scan reads. The store is made by the wiring (or a test)
 * and shared by the reconciler and the gates; every function is thread-safe. */
#ifndef SL_SCAN_STORE_H
#define SL_SCAN_STORE_H

#include "scan/advisory.h"
#include "scan/malware.h"
#include "scan/vex.h"
#include "scan/vexatt.h"
#include "scanner/harbor_api.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Scan answers kept by the gate. */
#define SL_SCAN_CACHE_MAX 1024
/* Entries of spec.vex. */
#define SL_SCAN_STORE_MAX_VEX 16

/* A loaded database (refcounted). */
struct sl_scan_db {
    int refs; /* atomic: sl_scan_db_ref / sl_scan_db_unref */
    struct sl_advdb adv;
    struct sl_hsbdb hsb;
    bool have_adv, have_hsb;
    char digest[72];   /* artifact manifest digest, or the directory content digest, or "" */
    char source[1100]; /* what was loaded: image@digest or path, for the fingerprint */
    char hsb_rv[128];  /* ConfigMap resourceVersion the hashes came from */
    char loaded_at[40];
    /* spec.scanner.harbor: findings come from this adapter instead of adv */
    char *harbor_url;
    char *harbor_auth; /* Authorization header value for the adapter (secret), or NULL */
    char *harbor_ca;   /* PEM, or NULL */
    /* the client certificate (PEM) and its key (secret) presented to the adapter, or NULL */
    char *harbor_cert, *harbor_key;
    bool harbor_insecure;
    struct sl_harbor_scanner harbor_scanner; /* from the adapter's metadata (status.scanner) */
};

/* An empty database with one reference (advisory and hash databases initialised). */
struct sl_scan_db *sl_scan_db_new(void);
/* Takes one more reference to db (not NULL); returns db. */
struct sl_scan_db *sl_scan_db_ref(struct sl_scan_db *db);
/* Drops a reference; the last one frees db (the Harbor credential and client key wiped). NULL is a
 * no-op. */
void sl_scan_db_unref(struct sl_scan_db *db);

/* The OpenVEX statements of spec.vex (refcounted like sl_scan_db). */
struct sl_scan_vexset {
    int refs; /* atomic */
    struct sl_vex vex;
    char fingerprint[SL_SCAN_STORE_MAX_VEX * 1200]; /* each source and its version */
    struct sl_vexatt_trust trust; /* spec.vex[].attestations: keys (nkeys 0 without) */
};

/* An empty statement set with one reference. */
struct sl_scan_vexset *sl_scan_vexset_new(void);
/* Takes one more reference to v (not NULL); returns v. */
struct sl_scan_vexset *sl_scan_vexset_ref(struct sl_scan_vexset *v);
/* Drops a reference; the last one frees v. NULL is a no-op. */
void sl_scan_vexset_unref(struct sl_scan_vexset *v);

struct sl_scan_store;

/* An empty store. Caller frees with sl_scan_store_free. */
struct sl_scan_store *sl_scan_store_new(void);
/* Frees s, its entries and cached answers (references held elsewhere stay valid). NULL is a
 * no-op. */
void sl_scan_store_free(struct sl_scan_store *s);

/* Takes references to what ns/name has loaded: *db_out its database, *vex_out its statements
 * (each NULL when there is none, whether or not the policy is Ready). Either out may be NULL
 * when not wanted. The caller drops them with sl_scan_db_unref / sl_scan_vexset_unref. */
void sl_scan_store_loaded(struct sl_scan_db **db_out, struct sl_scan_vexset **vex_out,
                          struct sl_scan_store *s, const char *ns, const char *name);

/* Installs what the reconciler loaded for ns/name: spec (copied) and rescan_ms (the policy's
 * rescanInterval as the controller allows it, which cached answers live for). db (reference
 * taken over) replaces the database; NULL keeps the one loaded. vex (reference taken over, NULL
 * without spec.vex) replaces the statements. ready false keeps a newly loaded database for the
 * next reconcile while the gates wait (spec.vex could not be read); the policy is Ready only
 * with a database. */
void sl_scan_store_put(struct sl_scan_store *s, const char *ns, const char *name,
                       const json_t *spec, int64_t rescan_ms, struct sl_scan_db *db,
                       struct sl_scan_vexset *vex, bool ready);

/* The policy is not Ready (bad spec, missing Secret): the gates wait. Keeps what is loaded. */
void sl_scan_store_unready(struct sl_scan_store *s, const char *ns, const char *name);

/* Forgets ns/name (the ScanPolicy was deleted). */
void sl_scan_store_remove(struct sl_scan_store *s, const char *ns, const char *name);

/* A Ready policy as the gates use it: references to its database and statements (vex NULL
 * without spec.vex), its spec (a reference; never changed in place), serial and rescan_ms. */
struct sl_scan_store_policy {
    struct sl_scan_db *db;
    struct sl_scan_vexset *vex;
    json_t *spec;
    uint64_t serial;
    int64_t rescan_ms;
};

/* Fills *out (released with sl_scan_store_policy_release) when ns/name is Ready with a
 * database. Returns 0; SL_ENOTFOUND when the store has no such policy; SL_ERETRY when it has
 * one that is not Ready yet (*out zeroed in both cases). */
int sl_scan_store_get_ready(struct sl_scan_store_policy *out, struct sl_scan_store *s,
                            const char *ns, const char *name);
/* Drops the references of p and zeroes it. */
void sl_scan_store_policy_release(struct sl_scan_store_policy *p);

/* Looks key up in the cached answers: on an entry younger than its ttl copies the answer out
 * (*summary a new reference, *rc, msg cut to msg_cap) and returns true. */
bool sl_scan_store_cache_get(struct sl_scan_store *s, const char *key, json_t **summary, int *rc,
                             char *msg, size_t msg_cap);
/* Keeps an answer (summary copied) under key for ttl_ms; the least recently used one goes when
 * SL_SCAN_CACHE_MAX are kept. */
void sl_scan_store_cache_put(struct sl_scan_store *s, const char *key, const json_t *summary,
                             int rc, const char *msg, int64_t ttl_ms);

#endif
