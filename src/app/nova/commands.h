/*
 * commands.h - the `nova` subcommands.  Each lives in its own cmd_*.c file
 * and has the signature of a main(): argv[0] is the subcommand name.  Exit
 * codes: 0 success, 1 bad input or failure, 2 usage error.
 */
#ifndef NOVA_APP_COMMANDS_H
#define NOVA_APP_COMMANDS_H

#include <stdbool.h>
#include <stdio.h>

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} NovaCommand;

/* Print an error as "nova NAME: summary: message" on stderr. */
struct NovaError;
void nova_app_print_error(const char *command, const struct NovaError *error);

/* Options shared by the DICOM service-user commands (echo, send). */
typedef struct {
    const char *aet;    /* calling AE title */
    const char *called; /* called AE title */
    long timeout_s;
    bool use_tls;
    const char *tls_ca, *tls_cert, *tls_key;
} NovaScuOptions;

/* If argv[*i] is one of those options, take it (and its value, advancing
 * *i) and return 1; 0 when it is not one; -1 when its value is missing (a
 * message is printed: exit 2). */
int nova_app_scu_option(const char *command, int argc, char **argv, int *i,
                        NovaScuOptions *options);

/* The command table, NULL-terminated (main.c). */
extern const NovaCommand nova_commands[];

#define NOVA_COMMAND_LIST(X)                                                   \
    X(analyze, "the main job: lungs, lesions, scores and a report")            \
    X(dump, "the dataset as text, DICOM JSON (--json) or raw pixels")          \
    X(nn, "run or time an ONNX model (nn run / nn bench)")                     \
    X(info, "studies, series, stack fingerprints and the series analyze uses") \
    X(convert, "a DICOM series (or volume file) to NIfTI in HU")               \
    X(radiomics,                                                               \
      "IBSI radiomics features of an image and a mask, or a cohort")           \
    X(phantom,                                                                 \
      "a synthetic chest CT study with ground truth (labels, volumes)")        \
    X(serve, "DICOM storage node: receive studies (C-STORE), durable store")   \
    X(send, "send DICOM files to a peer (C-STORE), one association")           \
    X(echo, "check a DICOM peer (C-ECHO)")

#define NOVA_DECLARE_COMMAND(name, summary) int nova_cmd_##name(int, char **);
NOVA_COMMAND_LIST(NOVA_DECLARE_COMMAND)

#endif
