/*
 * dict.c - look up PS3.6 data elements by tag or keyword.
 *
 * The tables are generated at build time (tools/dicom/gen_dict.py) from the
 * registry in tools/dicom/ps3.6-elements.tsv.  Exact tags are found by
 * binary search, repeating groups (50xx, 60xx, ...) by mask, keywords by
 * binary search over a sorted index.  Group length elements (gggg,0000),
 * which PS3.5 7.2 defines for every group, are answered with a shared
 * entry; private tags are not in the registry.
 */
#include "dicom/dict.h"

#include <string.h>

static const NovaDictEntry group_length = {0x00000000u,
                                           0x0000FFFFu,
                                           NOVA_VR_UL,
                                           "UL",
                                           "1",
                                           "GenericGroupLength",
                                           "Generic Group Length",
                                           false};

const NovaDictEntry *nova_dict_lookup_tag(uint32_t tag)
{
    size_t lo = 0, hi = nova__dict_exact_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint32_t t = nova__dict_entries[mid].tag;
        if (t == tag)
            return &nova__dict_entries[mid];
        if (t < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    if ((tag >> 16) & 1) /* private group: not in PS3.6 */
        return NULL;
    for (size_t i = nova__dict_exact_count; i < nova__dict_total_count; i++) {
        const NovaDictEntry *e = &nova__dict_entries[i];
        if ((tag & e->mask) == e->tag)
            return e;
    }
    if ((tag & 0xFFFF) == 0)
        return &group_length;
    return NULL;
}

const NovaDictEntry *nova_dict_lookup_keyword(const char *keyword)
{
    if (strcmp(keyword, group_length.keyword) == 0)
        return &group_length;
    size_t lo = 0, hi = nova__dict_total_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const NovaDictEntry *e =
            &nova__dict_entries[nova__dict_by_keyword[mid]];
        int c = strcmp(e->keyword, keyword);
        if (c == 0)
            return e;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
