/*
 * main.c - the `nova` command: dispatch to one subcommand per file.
 */
#include "commands.h"

#include "nova/nova.h"

#include <string.h>

#define NOVA_TABLE_ENTRY(name, summary) {#name, summary, nova_cmd_##name},
const NovaCommand nova_commands[] = {
    NOVA_COMMAND_LIST(NOVA_TABLE_ENTRY){NULL, NULL, NULL}};

void nova_app_print_error(const char *command, const struct NovaError *error)
{
    fprintf(stderr, "nova %s: %s: %s\n", command, nova_error_summary(error),
            nova_error_message(error));
}

static void usage(FILE *out)
{
    fprintf(out, "usage: nova COMMAND [ARGS...]\n\n"
                 "Nova: AI-assisted CT analysis (decision support).\n\n"
                 "commands:\n");
    for (const NovaCommand *c = nova_commands; c->name; c++)
        fprintf(out, "  %-12s %s\n", c->name, c->summary);
    fprintf(out, "\n'nova COMMAND --help' describes each one.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("nova %s\n", nova_version());
        return 0;
    }
    for (const NovaCommand *c = nova_commands; c->name; c++)
        if (strcmp(argv[1], c->name) == 0)
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "nova: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
