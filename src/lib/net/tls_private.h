/*
 * tls_private.h - the socket-level TLS calls association.c uses (tls.c).
 * The SSL object is passed as void * so that association.c needs no
 * OpenSSL header.  The socket stays blocking; the caller bounds each call
 * with SO_RCVTIMEO / SO_SNDTIMEO.
 */
#ifndef NOVA_NET_TLS_PRIVATE_H
#define NOVA_NET_TLS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "nova/net.h"

/* Handshake on fd (accept for a server context, connect for a client);
 * NULL with an error naming the peer and the reason. */
void *nova__tls_wrap(NovaError **error, NovaTls *tls, int fd, const char *peer);
/* Bytes read, 0 at a clean TLS close, -1 on error (*again when it is
 * worth polling and retrying). */
long nova__tls_read(void *ssl, void *buf, size_t n, bool *again);
bool nova__tls_write(void *ssl, const void *buf, size_t n);
/* Decrypted bytes already buffered (poll would not see them). */
bool nova__tls_pending(void *ssl);
void nova__tls_close(void *ssl);

#endif
