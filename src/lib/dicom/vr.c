/*
 * vr.c - value representations (PS3.5 6.2): names and classes.
 */
#include "nova/dicom.h"

static const char vr_names[NOVA_VR_COUNT][3] = {
    "??", "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO",
    "LT", "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS",
    "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV"};

const char *nova_vr_name(NovaVR vr)
{
    return (unsigned)vr < NOVA_VR_COUNT ? vr_names[vr] : "??";
}

NovaVR nova_vr_from_chars(char c0, char c1)
{
    for (int i = 1; i < NOVA_VR_COUNT; i++)
        if (vr_names[i][0] == c0 && vr_names[i][1] == c1)
            return (NovaVR)i;
    return NOVA_VR_NONE;
}

bool nova_vr_is_string(NovaVR vr)
{
    switch (vr) {
    case NOVA_VR_AE:
    case NOVA_VR_AS:
    case NOVA_VR_CS:
    case NOVA_VR_DA:
    case NOVA_VR_DS:
    case NOVA_VR_DT:
    case NOVA_VR_IS:
    case NOVA_VR_LO:
    case NOVA_VR_LT:
    case NOVA_VR_PN:
    case NOVA_VR_SH:
    case NOVA_VR_ST:
    case NOVA_VR_TM:
    case NOVA_VR_UC:
    case NOVA_VR_UI:
    case NOVA_VR_UR:
    case NOVA_VR_UT: return true;
    default: return false;
    }
}
