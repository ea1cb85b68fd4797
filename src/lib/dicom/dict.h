/*
 * dict.h - private: the generated PS3.6 tables (dict_table.c).
 */
#ifndef NOVA_DICOM_DICT_H
#define NOVA_DICOM_DICT_H

#include "nova/dicom.h"

extern const NovaDictEntry nova__dict_entries[];
extern const size_t nova__dict_exact_count;
extern const size_t nova__dict_total_count;
extern const uint16_t nova__dict_by_keyword[];

#endif
