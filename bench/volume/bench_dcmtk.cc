// bench_dcmtk.cc - the volume benchmark's DCMTK peer: read every file of a
// folder with DcmFileFormat (decompressing through DCMTK's RLE, JPEG and
// JPEG-LS codecs when needed), sort slices by the projection of Image
// Position (Patient) on the slice normal, and build one int16 HU volume
// (rescale slope/intercept).  Files are split between THREADS threads
// (argv[2], default 2), one DcmFileFormat per file, like Nova's pool.
// Prints the same checksum as bench_nova.c.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <string>
#include <thread>
#include <vector>

struct Slice {
    double pos = 0, slope = 1, inter = 0;
    unsigned rows = 0, cols = 0;
    bool is_signed = false;
    std::vector<uint16_t> pixels;
    bool ok = false;
};

static void load(const std::string &path, Slice &s)
{
    DcmFileFormat ff;
    if (ff.loadFile(path.c_str()).bad())
        return;
    DcmDataset *ds = ff.getDataset();
    if (ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad())
        return;
    double ipp[3], iop[6];
    for (int i = 0; i < 3; i++)
        if (ds->findAndGetFloat64(DCM_ImagePositionPatient, ipp[i], i).bad())
            return;
    for (int i = 0; i < 6; i++)
        if (ds->findAndGetFloat64(DCM_ImageOrientationPatient, iop[i], i)
                .bad())
            return;
    double n[3] = {iop[1] * iop[5] - iop[2] * iop[4],
                   iop[2] * iop[3] - iop[0] * iop[5],
                   iop[0] * iop[4] - iop[1] * iop[3]};
    s.pos = ipp[0] * n[0] + ipp[1] * n[1] + ipp[2] * n[2];
    ds->findAndGetFloat64(DCM_RescaleSlope, s.slope);
    ds->findAndGetFloat64(DCM_RescaleIntercept, s.inter);
    Uint16 rows = 0, cols = 0, rep = 0;
    ds->findAndGetUint16(DCM_Rows, rows);
    ds->findAndGetUint16(DCM_Columns, cols);
    ds->findAndGetUint16(DCM_PixelRepresentation, rep);
    s.rows = rows;
    s.cols = cols;
    s.is_signed = rep == 1;
    const Uint16 *px = nullptr;
    unsigned long count = 0;
    if (ds->findAndGetUint16Array(DCM_PixelData, px, &count).bad() ||
        count < (unsigned long)rows * cols)
        return;
    s.pixels.assign(px, px + (size_t)rows * cols);
    s.ok = true;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench_dcmtk FOLDER [THREADS]\n");
        return 2;
    }
    int threads = argc > 2 ? std::atoi(argv[2]) : 2;
    auto t0 = std::chrono::steady_clock::now();
    DcmRLEDecoderRegistration::registerCodecs();
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    std::vector<std::string> files;
    DIR *d = opendir(argv[1]);
    if (!d)
        return 1;
    while (dirent *e = readdir(d))
        if (e->d_name[0] != '.')
            files.push_back(std::string(argv[1]) + "/" + e->d_name);
    closedir(d);
    std::vector<Slice> slices(files.size());
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; t++)
        pool.emplace_back([&, t] {
            for (size_t i = t; i < files.size(); i += threads)
                load(files[i], slices[i]);
        });
    for (auto &th : pool)
        th.join();
    std::vector<Slice *> ok;
    for (auto &s : slices)
        if (s.ok)
            ok.push_back(&s);
    if (ok.empty())
        return 1;
    std::sort(ok.begin(), ok.end(),
              [](const Slice *a, const Slice *b) { return a->pos < b->pos; });
    size_t plane = (size_t)ok[0]->rows * ok[0]->cols;
    std::vector<int16_t> vol(plane * ok.size());
    for (size_t k = 0; k < ok.size(); k++) {
        const Slice *s = ok[k];
        int16_t *dst = vol.data() + k * plane;
        for (size_t i = 0; i < plane; i++) {
            double raw = s->is_signed ? (double)(int16_t)s->pixels[i]
                                      : (double)s->pixels[i];
            dst[i] = (int16_t)std::lrint(raw * s->slope + s->inter);
        }
    }
    auto t1 = std::chrono::steady_clock::now();
    long long sum = 0;
    for (size_t i = 0; i < vol.size(); i += 61)
        sum += vol[i] * (long long)(i % 7 + 1);
    std::printf("voxels %zu checksum %lld first %d total_s %.4f\n", vol.size(),
                sum, vol[0],
                std::chrono::duration<double>(t1 - t0).count());
    return 0;
}
