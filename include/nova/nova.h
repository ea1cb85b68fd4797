/*
 * nova/nova.h - the whole public API of libnova.
 */
#ifndef NOVA_NOVA_H
#define NOVA_NOVA_H

#include "nova/chest.h"
#include "nova/codec.h"
#include "nova/core.h"
#include "nova/dicom.h"
#include "nova/dicom_write.h"
#include "nova/image.h"
#include "nova/imgproc.h"
#include "nova/json.h"
#include "nova/nn.h"
#include "nova/phantom.h"
#include "nova/radiomics.h"
#include "nova/volume.h"

#endif
