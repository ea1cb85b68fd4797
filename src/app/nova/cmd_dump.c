/*
 * cmd_dump.c - `nova dump FILE...` (placeholder until the parser lands).
 */
#include "commands.h"

int nova_cmd_dump(int argc, char **argv)
{
    fprintf(stderr, "nova dump: not built yet\n");
    return 1;
}
