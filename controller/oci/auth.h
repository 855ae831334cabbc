/* Registry authentication pieces that involve no I/O: the WWW-Authenticate challenge parser,
 * credentials and where they come from (explicit user:password, docker config.json, the JSON of
 * a kubernetes.io/dockerconfigjson Secret), token responses, and a per-scope token cache. */
#ifndef SL_OCI_AUTH_H
#define SL_OCI_AUTH_H

#include "util/err.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Credentials for one registry. Secret strings are wiped when freed. */
struct sl_creds {
    char *username; /* NULL = anonymous */
    char *password;
    char *identity_token; /* docker "identitytoken" (OAuth refresh token), or NULL */
};

/* Parses "user:password" (the password may contain ':'). Returns 0 or SL_EINVAL. */
int sl_creds_parse_userpass(struct sl_creds *out, const char *s, struct sl_err *err);
/* Deep copy (src may be NULL -> anonymous). */
void sl_creds_copy(struct sl_creds *out, const struct sl_creds *src);
/* Wipes and frees the strings; NULL is a no-op. */
void sl_creds_free(struct sl_creds *c);

/* Looks up credentials for registry (host[:port], e.g. "docker.io" or "127.0.0.1:5000") in the
 * text of a docker config.json / the decoded .dockerconfigjson of a Secret. Keys of `auths` may
 * be "host", "host:port", "https://host[/v1/...]" or "http://host"; Docker Hub also matches
 * "https://index.docker.io/v1/", "index.docker.io" and "registry-1.docker.io". An entry gives
 * `auth` (base64 "user:pass") or `username`/`password`, optionally `identitytoken`.
 * Returns 0 (out filled, caller frees), SL_ENOTFOUND (no entry; out untouched) or SL_EINVAL
 * (malformed JSON or entry; err says which key, never the secret). */
int sl_dockerconfig_lookup(struct sl_creds *out, const char *json, size_t len, const char *registry,
                           struct sl_err *err);

/* Reads $DOCKER_CONFIG/config.json or ~/.docker/config.json and looks registry up as above.
 * A missing file is SL_ENOTFOUND. */
int sl_dockerconfig_lookup_default(struct sl_creds *out, const char *registry, struct sl_err *err);

/* A parsed WWW-Authenticate challenge (the first one in the header). */
struct sl_auth_challenge {
    char scheme[16]; /* "Bearer" or "Basic" (as sent) */
    char *realm;
    char *service;
    char *scope;
    char *error; /* e.g. "insufficient_scope", or NULL */
};

/* Parses a WWW-Authenticate header value such as
 *   Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"
 * Quoted strings may contain escaped characters and commas. Returns 0 or SL_EINVAL.
 * Free with sl_auth_challenge_free. */
int sl_auth_challenge_parse(struct sl_auth_challenge *out, const char *header, struct sl_err *err);
void sl_auth_challenge_free(struct sl_auth_challenge *c);

/* Parses a token endpoint response ({"token"|"access_token", "expires_in"}). *token_out is
 * the caller's (sl_secure_free_str); *expires_in_s defaults to 60 when absent. Returns 0 or
 * SL_EINVAL. */
int sl_auth_token_response_parse(char **token_out, int64_t *expires_in_s, const char *json,
                                 size_t len, struct sl_err *err);

/* Base64 of "user:password" for a Basic Authorization header (caller frees securely). */
char *sl_auth_basic_value(const struct sl_creds *c);

/* A thread-safe cache of Bearer tokens keyed by scope string, valid until their expiry. */
struct sl_token_cache;

struct sl_token_cache *sl_token_cache_new(void);
void sl_token_cache_free(struct sl_token_cache *tc);
/* Returns a copy of the token for scope when one is valid at now_ms (caller frees securely),
 * else NULL. */
char *sl_token_cache_get(struct sl_token_cache *tc, const char *scope, int64_t now_ms);
/* Stores a copy of token for scope until expires_at_ms. */
void sl_token_cache_put(struct sl_token_cache *tc, const char *scope, const char *token,
                        int64_t expires_at_ms);
/* Forgets scope (after a 401 with a cached token). */
void sl_token_cache_drop(struct sl_token_cache *tc, const char *scope);

#endif
