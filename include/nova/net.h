/*
 * nova/net.h - the DICOM network: the upper layer protocol (PS3.8) and the
 * DIMSE services C-ECHO and C-STORE (PS3.7), as service class provider
 * (server) and user (client).
 *
 * The upper layer reads and writes whole PDUs over a blocking socket with
 * poll() timeouts (ARTIM while an association is being set up or released,
 * an idle timeout while it is open).  Every length in a PDU is checked
 * against the bytes that are really there; a PDU that does not follow
 * PS3.8 9.3 gets an error, and the association is aborted (A-ABORT), never
 * a crash.
 *
 * DIMSE command sets are encoded in implicit VR little endian, group 0000
 * with its CommandGroupLength first (PS3.7 6.3.1, 9.3).
 *
 * Threads: an association handle belongs to one thread.  The parse/build
 * functions are pure and thread-safe.
 */
#ifndef NOVA_NET_H
#define NOVA_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nova/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* PS3.8 9.3.1: PDU types. */
#define NOVA_PDU_ASSOCIATE_RQ 0x01
#define NOVA_PDU_ASSOCIATE_AC 0x02
#define NOVA_PDU_ASSOCIATE_RJ 0x03
#define NOVA_PDU_P_DATA_TF 0x04
#define NOVA_PDU_RELEASE_RQ 0x05
#define NOVA_PDU_RELEASE_RP 0x06
#define NOVA_PDU_ABORT 0x07

#define NOVA_NET_MAX_CONTEXTS 128
#define NOVA_NET_MAX_TS_PER_CONTEXT 16
/* The largest PDU Nova accepts from a peer whatever it announces (the
 * length field itself is 32-bit; this bounds memory per association). */
#define NOVA_NET_PDU_HARD_LIMIT (64u * 1024u * 1024u)
/* Nova's own maximum PDU length announced in its requests/accepts. */
#define NOVA_NET_DEFAULT_MAX_PDU 262144u

#define NOVA_UID_VERIFICATION "1.2.840.10008.1.1"
#define NOVA_UID_APPLICATION_CONTEXT "1.2.840.10008.3.1.1.1"
#define NOVA_UID_IMPLICIT_LE "1.2.840.10008.1.2"
#define NOVA_UID_EXPLICIT_LE "1.2.840.10008.1.2.1"
#define NOVA_IMPLEMENTATION_CLASS_UID "1.2.826.0.1.3680043.10.1234.1"
#define NOVA_IMPLEMENTATION_VERSION "NOVA_1"

/* PS3.8 9.3.3.2 presentation context result/reason. */
#define NOVA_PC_ACCEPTANCE 0
#define NOVA_PC_USER_REJECTION 1
#define NOVA_PC_NO_REASON 2
#define NOVA_PC_ABSTRACT_SYNTAX_NOT_SUPPORTED 3
#define NOVA_PC_TRANSFER_SYNTAXES_NOT_SUPPORTED 4

/* One presentation context: in a request, the abstract syntax and the
 * proposed transfer syntaxes; in an accept, the result and (when accepted)
 * the one transfer syntax chosen. */
typedef struct {
    uint8_t id;
    uint8_t result;
    char abstract_syntax[65];
    uint8_t n_transfer_syntaxes;
    char transfer_syntaxes[NOVA_NET_MAX_TS_PER_CONTEXT][65];
} NovaNetContext;

/* The A-ASSOCIATE-RQ / -AC parameters (PS3.8 9.3.2, 9.3.3, PS3.7 D.3.3). */
typedef struct {
    char called_ae[17];
    char calling_ae[17];
    char application_context[65];
    uint32_t max_pdu_length; /* 0: unlimited (PS3.8 D.1) */
    char implementation_class_uid[65];
    char implementation_version[17];
    /* User identity (PS3.7 D.3.3.7): in a request, what was offered; in an
     * accept, whether a (empty) server response is included. */
    bool user_identity_offered;
    uint8_t user_identity_type;
    bool user_identity_response_requested;
    size_t n_contexts;
    NovaNetContext contexts[NOVA_NET_MAX_CONTEXTS];
} NovaAssociateInfo;

/* Parse an A-ASSOCIATE-RQ (type 1) or -AC (type 2) PDU, header included.
 * Every item length is checked; unknown items are skipped (PS3.8 9.3.1).
 * Contexts beyond NOVA_NET_MAX_CONTEXTS or transfer syntaxes beyond
 * NOVA_NET_MAX_TS_PER_CONTEXT are an error.  Thread-safe. */
bool nova_net_parse_associate(NovaError **error, const uint8_t *pdu,
                              size_t size, NovaAssociateInfo *out);
/* Build an A-ASSOCIATE-RQ/AC PDU (type 1 or 2) into a new buffer (caller
 * frees with nova_free). */
uint8_t *nova_net_build_associate(NovaError **error, uint8_t type,
                                  const NovaAssociateInfo *info,
                                  size_t *size_out);

/* ------------------------------------------------------------ DIMSE */

#define NOVA_DIMSE_C_STORE_RQ 0x0001
#define NOVA_DIMSE_C_STORE_RSP 0x8001
#define NOVA_DIMSE_C_ECHO_RQ 0x0030
#define NOVA_DIMSE_C_ECHO_RSP 0x8030
#define NOVA_DIMSE_NO_DATASET 0x0101

/* PS3.4 B.2.3, PS3.7 C: status codes. */
#define NOVA_STATUS_SUCCESS 0x0000
#define NOVA_STATUS_OUT_OF_RESOURCES 0xA700
#define NOVA_STATUS_DATASET_MISMATCH 0xA900
#define NOVA_STATUS_CANNOT_UNDERSTAND 0xC000
#define NOVA_STATUS_COERCION 0xB000
#define NOVA_STATUS_ELEMENTS_DISCARDED 0xB007
#define NOVA_STATUS_DATASET_SOP_MISMATCH_WARN 0xB007
#define NOVA_STATUS_ATTRIBUTE_VALUE_OOR 0x0107
#define NOVA_STATUS_SOP_CLASS_NOT_SUPPORTED 0x0122
#define NOVA_STATUS_PROCESSING_FAILURE 0x0110

/* A DIMSE command set (the fields C-ECHO and C-STORE use). */
typedef struct {
    uint16_t command_field;
    uint16_t message_id;
    uint16_t message_id_responded;
    uint16_t priority;
    uint16_t data_set_type;
    uint16_t status;
    bool has_status;
    char affected_sop_class[65];
    char affected_sop_instance[65];
    char error_comment[65];
    char move_originator_ae[17];
    uint16_t move_originator_id;
} NovaDimseCommand;

/* Parse a command set (implicit VR little endian, group 0000 only).
 * Thread-safe. */
bool nova_dimse_parse_command(NovaError **error, const uint8_t *bytes,
                              size_t size, NovaDimseCommand *out);
/* Encode a command set with its CommandGroupLength (caller frees). */
uint8_t *nova_dimse_encode_command(NovaError **error,
                                   const NovaDimseCommand *command,
                                   size_t *size_out);

/* Re-encode a dataset from explicit VR little endian to implicit VR little
 * endian (PS3.5 7.1.2 -> 7.1.3; 10.1: implicit LE is the syntax every
 * node accepts), for a peer that refused explicit LE.  Values are copied;
 * headers lose their VR; defined lengths of sequences and items are
 * recomputed.  Encapsulated (undefined-length OB/OW) data and UN of
 * undefined length are NOVA_ERROR_UNSUPPORTED.  *out is nova_malloc'ed
 * (caller frees).  Thread-safe. */
bool nova_dimse_explicit_to_implicit(NovaError **error, const uint8_t *bytes,
                                     size_t size, uint8_t **out,
                                     size_t *out_size);

/* ---------------------------------------------------- associations */

typedef struct NovaAssociation NovaAssociation;

/* DICOM over TLS (PS3.15 B.1, the Basic / BCP 195 TLS secure transport
 * connection profiles) through OpenSSL (Debian's libssl; TLS 1.2 or 1.3).
 * A server context has a certificate and key and, with a CA file, requires
 * and verifies client certificates; a client context verifies the server
 * against a CA file (or the system's default paths when NULL) and may
 * present its own certificate.  Files are PEM.  A context may be shared
 * by every association of a process (OpenSSL's SSL_CTX is thread-safe
 * once configured). */
typedef struct NovaTls NovaTls;
NovaTls *nova_tls_create_server(NovaError **error, const char *cert_pem,
                                const char *key_pem, const char *ca_pem);
NovaTls *nova_tls_create_client(NovaError **error, const char *ca_pem,
                                const char *cert_pem, const char *key_pem);
void nova_tls_destroy(NovaTls *tls);

typedef struct {
    int artim_timeout_ms;     /* association setup/release, default 30000 */
    int idle_timeout_ms;      /* open association with no PDU, default 300000 */
    uint32_t max_pdu_length;  /* announced; default NOVA_NET_DEFAULT_MAX_PDU */
    size_t max_message_bytes; /* largest dataset accepted, default 2 GiB */
    NovaTls *tls;             /* NULL: plain TCP (borrowed) */
} NovaNetOptions;

void nova_net_options_init(NovaNetOptions *options);

/* Connect to host:port (numeric or name), send an A-ASSOCIATE-RQ built from
 * `request` and wait for the answer.  Returns the open association, or NULL
 * with an error that says whether the peer rejected (and why) or aborted.
 * The accepted contexts are in nova_association_info(). */
NovaAssociation *nova_association_request(NovaError **error, const char *host,
                                          int port,
                                          const NovaAssociateInfo *request,
                                          const NovaNetOptions *options);
/* The negotiated parameters: for a requester, the A-ASSOCIATE-AC; for an
 * acceptor, the A-ASSOCIATE-RQ with each context's result filled in.
 * Borrowed. */
const NovaAssociateInfo *nova_association_info(const NovaAssociation *assoc);
/* The accepted context for an abstract syntax whose transfer syntax is
 * `ts` (NULL: any); NULL when none. */
const NovaNetContext *
nova_association_find_context(const NovaAssociation *assoc,
                              const char *abstract_syntax, const char *ts);

/* Send a DIMSE message on context `context_id`: the command set and, when
 * dataset != NULL, the dataset, fragmented into PDVs that fit the peer's
 * maximum PDU length (PS3.8 9.3.5, PS3.7 8.1). */
bool nova_association_send_message(NovaError **error, NovaAssociation *assoc,
                                   uint8_t context_id,
                                   const NovaDimseCommand *command,
                                   const uint8_t *dataset, size_t dataset_size);

/* What nova_association_receive_message got. */
typedef enum {
    NOVA_NET_MESSAGE = 0, /* a command (and its dataset when it has one) */
    NOVA_NET_RELEASED,    /* the peer asked for release; answered */
    NOVA_NET_ABORTED      /* the peer aborted */
} NovaNetEvent;

/* Receive one DIMSE message: the command and, when its data set type says
 * one follows, the dataset (caller frees *dataset with nova_free).  An
 * A-RELEASE-RQ is answered with an A-RELEASE-RP.  On a protocol violation
 * or timeout it sends an A-ABORT and returns false. */
bool nova_association_receive_message(NovaError **error, NovaAssociation *assoc,
                                      NovaNetEvent *event, uint8_t *context_id,
                                      NovaDimseCommand *command,
                                      uint8_t **dataset, size_t *dataset_size);

/* Request release (A-RELEASE-RQ) and wait for the A-RELEASE-RP. */
bool nova_association_release(NovaError **error, NovaAssociation *assoc);
/* Send an A-ABORT (source 0 service user, 2 service provider). */
void nova_association_abort(NovaAssociation *assoc, uint8_t source,
                            uint8_t reason);
/* Close the socket and free.  NULL does nothing. */
void nova_association_destroy(NovaAssociation *assoc);

/* ------------------------------------------------------ the provider */

/* Called for each C-STORE: the SOP class and instance from the command,
 * the transfer syntax of the context, the dataset as received.  Returns the
 * status to send back, and may set a comment (up to 64 characters). */
typedef uint16_t (*NovaStoreHandler)(void *user, const char *calling_ae,
                                     const char *sop_class,
                                     const char *sop_instance,
                                     const char *transfer_syntax,
                                     const uint8_t *dataset, size_t size,
                                     char comment[65]);

typedef struct {
    const char *ae_title; /* our AE title (called AE must match
                             unless accept_any_called_ae) */
    bool accept_any_called_ae;
    const char *const *allowed_calling_aes; /* NULL: any */
    size_t n_allowed_calling_aes;
    /* Abstract syntaxes accepted: NULL means Verification and the storage
     * SOP classes (nova_net_is_storage_sop_class). */
    const char *const *abstract_syntaxes;
    size_t n_abstract_syntaxes;
    /* Transfer syntaxes in preference order; NULL: explicit LE, implicit
     * LE, then every compressed syntax nova_transfer_syntax_lookup knows. */
    const char *const *transfer_syntaxes;
    size_t n_transfer_syntaxes;
    NovaNetOptions net;
    NovaStoreHandler store;
    void *store_user;
} NovaScpConfig;

/* True for a Storage SOP Class UID (PS3.4 B.5: the image, SR, RT,
 * presentation state, waveform and raw-data classes, all under
 * 1.2.840.10008.5.1.4.1.1). */
bool nova_net_is_storage_sop_class(const char *uid);

/* What one association did (for the log line). */
typedef struct {
    char calling_ae[17];
    char called_ae[17];
    char peer[64];
    size_t n_echo;
    size_t n_stored;
    size_t n_failed;
    bool rejected;
    bool aborted;
} NovaScpReport;

/* Serve one association on an accepted socket `fd` (taken over, closed on
 * return): negotiate, answer C-ECHO and C-STORE until release, abort or
 * timeout.  `reject_busy` answers A-ASSOCIATE-RJ (transient, local limit
 * exceeded) instead.  Returns false with an error when the association
 * ended by a protocol error or timeout (it was aborted). */
bool nova_scp_serve_association(NovaError **error, int fd,
                                const NovaScpConfig *config, bool reject_busy,
                                NovaScpReport *report);

#ifdef __cplusplus
}
#endif

#endif
