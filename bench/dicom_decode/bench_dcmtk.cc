// bench_dcmtk.cc - the DICOM decode benchmark's DCMTK peer: load each file
// with DcmFileFormat and decompress its pixel data to explicit VR little
// endian in process (DCMTK's RLE, IJG-based JPEG and JPEG-LS decoders),
// files split between THREADS std::threads (static split, like the Nova
// side's pool), RUNS times; prints the median wall time, CPU time per run and a checksum of
// all samples.  Usage: bench_dcmtk FOLDER THREADS RUNS
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>

#include "peer_harness.hh"

static uint64_t decode_one(const std::string &path, std::atomic<int> &fails)
{
    DcmFileFormat ff;
    if (ff.loadFile(path.c_str()).bad()) {
        fails++;
        return 0;
    }
    DcmDataset *ds = ff.getDataset();
    if (ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad()) {
        fails++;
        return 0;
    }
    const Uint16 *px = nullptr;
    unsigned long count = 0;
    if (ds->findAndGetUint16Array(DCM_PixelData, px, &count).bad()) {
        fails++;
        return 0;
    }
    uint64_t sum = 0;
    for (unsigned long i = 0; i < count; i++)
        sum += px[i];
    return sum;
}

int main(int argc, char **argv)
{
    DcmRLEDecoderRegistration::registerCodecs();
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    return run_peer("dcmtk", argc, argv, decode_one);
}
