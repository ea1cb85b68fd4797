/*
 * tls.c - TLS contexts for DICOM associations (PS3.15 B.1) on OpenSSL
 * (Debian's libssl 3: a well-kept implementation; TLS is not something
 * Nova should write itself).  Only the contexts live here; association.c
 * wraps each socket in an SSL object from them (nova__tls_*).
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string.h>

#include "net/tls_private.h"
#include "nova/net.h"

struct NovaTls {
    SSL_CTX *ctx;
    bool server;
};

static NovaTls *tls_fail(NovaError **error, NovaTls *t, const char *what,
                         const char *file)
{
    char buf[256] = "";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    nova_error_set(error, NOVA_ERROR_IO, "TLS setup failed", "%s%s%s: %s", what,
                   file ? " " : "", file ? file : "",
                   buf[0] ? buf : "unknown OpenSSL error");
    nova_tls_destroy(t);
    return NULL;
}

static NovaTls *tls_new(NovaError **error, bool server)
{
    NovaTls *t = nova_calloc(error, 1, sizeof *t);
    if (!t)
        return NULL;
    t->server = server;
    t->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!t->ctx)
        return tls_fail(error, t, "SSL_CTX_new", NULL);
    /* PS3.15 B.9 (BCP 195): TLS 1.2 at least. */
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_AUTO_RETRY);
    return t;
}

static bool load_pair(NovaError **error, NovaTls *t, const char *cert,
                      const char *key)
{
    if (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1) {
        tls_fail(error, NULL, "certificate", cert);
        return false;
    }
    if (SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(t->ctx) != 1) {
        tls_fail(error, NULL, "private key", key);
        return false;
    }
    return true;
}

NovaTls *nova_tls_create_server(NovaError **error, const char *cert_pem,
                                const char *key_pem, const char *ca_pem)
{
    NovaTls *t = tls_new(error, true);
    if (!t)
        return NULL;
    if (!load_pair(error, t, cert_pem, key_pem)) {
        nova_tls_destroy(t);
        return NULL;
    }
    if (ca_pem) {
        if (SSL_CTX_load_verify_locations(t->ctx, ca_pem, NULL) != 1)
            return tls_fail(error, t, "CA file", ca_pem);
        SSL_CTX_set_verify(
            t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return t;
}

NovaTls *nova_tls_create_client(NovaError **error, const char *ca_pem,
                                const char *cert_pem, const char *key_pem)
{
    NovaTls *t = tls_new(error, false);
    if (!t)
        return NULL;
    int ok = ca_pem ? SSL_CTX_load_verify_locations(t->ctx, ca_pem, NULL)
                    : SSL_CTX_set_default_verify_paths(t->ctx);
    if (ok != 1)
        return tls_fail(error, t, "CA file", ca_pem);
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    if (cert_pem && key_pem && !load_pair(error, t, cert_pem, key_pem)) {
        nova_tls_destroy(t);
        return NULL;
    }
    return t;
}

void nova_tls_destroy(NovaTls *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    nova_free(t);
}

void *nova__tls_wrap(NovaError **error, NovaTls *t, int fd, const char *peer)
{
    SSL *ssl = SSL_new(t->ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        tls_fail(error, NULL, "SSL_new", NULL);
        return NULL;
    }
    int rc = t->server ? SSL_accept(ssl) : SSL_connect(ssl);
    if (rc != 1) {
        char buf[256] = "";
        unsigned long e = ERR_get_error();
        if (e)
            ERR_error_string_n(e, buf, sizeof buf);
        ERR_clear_error();
        long v = SSL_get_verify_result(ssl);
        nova_error_set(error, NOVA_ERROR_IO, "TLS handshake failed",
                       "%s: %s%s%s", peer, buf[0] ? buf : "connection closed",
                       v != X509_V_OK ? "; certificate: " : "",
                       v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

long nova__tls_read(void *ssl, void *buf, size_t n, bool *again)
{
    *again = false;
    int k = SSL_read(ssl, buf, n > 1u << 30 ? 1 << 30 : (int)n);
    if (k > 0)
        return k;
    int e = SSL_get_error(ssl, k);
    ERR_clear_error();
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        *again = true;
        return -1;
    }
    return -1;
}

bool nova__tls_write(void *ssl, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n > 0) {
        int chunk = n > 1u << 30 ? 1 << 30 : (int)n;
        int k = SSL_write(ssl, p, chunk);
        if (k <= 0) {
            ERR_clear_error();
            return false;
        }
        p += k;
        n -= (size_t)k;
    }
    return true;
}

bool nova__tls_pending(void *ssl)
{
    return SSL_pending(ssl) > 0;
}

void nova__tls_close(void *ssl)
{
    if (!ssl)
        return;
    SSL_shutdown(ssl);
    ERR_clear_error();
    SSL_free(ssl);
}
