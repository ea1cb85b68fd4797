/*
 * feature_table.h - every IBSI 1 feature Nova computes: family, anchor id
 * (as in the IBSI reference tables), IBSI identifier and name.  Included
 * with NOVA__RF defined (an X-macro); no include guard on purpose.
 * Generated once from ibsi1_reference_values.csv; the IBSI text gives
 * BC2M to both V10 and V90, GBPN to I10 and I90, and 1PR8 to the histogram
 * minimum and 10th percentile, so ids, not codes, are unique.
 */
NOVA__RF("morph", morph_volume, "RNU0", "Volume (mesh)")
NOVA__RF("morph", morph_approx_volume, "YEKZ", "Volume (voxel counting)")
NOVA__RF("morph", morph_area, "C0JK", "Surface area (mesh)")
NOVA__RF("morph", morph_surface_volume_ratio, "2PR5", "Surface to volume ratio")
NOVA__RF("morph", morph_comp_1, "SKGS", "Compactness 1")
NOVA__RF("morph", morph_comp_2, "BQWJ", "Compactness 2")
NOVA__RF("morph", morph_sph_dispr, "KRCK", "Spherical disproportion")
NOVA__RF("morph", morph_sphericity, "QCFX", "Sphericity")
NOVA__RF("morph", morph_asphericity, "25C7", "Asphericity")
NOVA__RF("morph", morph_centre_of_mass_shift, "KLMA", "Centre of mass shift")
NOVA__RF("morph", morph_max_3d_diam, "L0JK", "Maximum 3D diameter")
NOVA__RF("morph", morph_pca_major, "TDIC", "Major axis length")
NOVA__RF("morph", morph_pca_minor, "P9VJ", "Minor axis length")
NOVA__RF("morph", morph_pca_least, "7J51", "Least axis length")
NOVA__RF("morph", morph_pca_elongation, "Q3CK", "Elongation")
NOVA__RF("morph", morph_pca_flatness, "N17B", "Flatness")
NOVA__RF("morph", morph_vol_dens_aabb, "PBX1",
         "Volume density (axis-aligned bounding box)")
NOVA__RF("morph", morph_area_dens_aab, "R59B",
         "Area density (axis-aligned bounding box)")
NOVA__RF("morph", morph_vol_dens_aee, "6BDE",
         "Volume density (approximate enclosing ellipsoid)")
NOVA__RF("morph", morph_area_dens_aee, "RDD2",
         "Area density (approximate enclosing ellipsoid)")
NOVA__RF("morph", morph_vol_dens_conv_hull, "R3ER",
         "Volume density (convex hull)")
NOVA__RF("morph", morph_area_dens_conv_hull, "7T7F",
         "Area density (convex hull)")
NOVA__RF("morph", morph_integrated_intensity, "99N0", "Integrated intensity")
NOVA__RF("morph", morph_moran_i, "N365", "Moran's I index")
NOVA__RF("morph", morph_geary_c, "NPT7", "Geary's C measure")
NOVA__RF("loc", loc_int_local_peak, "VJGA", "Local intensity peak")
NOVA__RF("loc", loc_int_global_peak, "0F91", "Global intensity peak")
NOVA__RF("stat", stat_mean, "Q4LE", "Mean intensity")
NOVA__RF("stat", stat_variance, "ECT3", "Intensity variance")
NOVA__RF("stat", stat_skewness, "KE2A", "Intensity skewness")
NOVA__RF("stat", stat_kurtosis, "IPH6", "(Excess) intensity kurtosis")
NOVA__RF("stat", stat_median, "Y12H", "Median intensity")
NOVA__RF("stat", stat_minimum, "1GSF", "Minimum intensity")
NOVA__RF("stat", stat_p10, "QG58", "10th intensity percentile")
NOVA__RF("stat", stat_p90, "8DWT", "90th intensity percentile")
NOVA__RF("stat", stat_maximum, "84IY", "Maximum intensity")
NOVA__RF("stat", stat_iqr, "SALO", "Intensity interquartile range")
NOVA__RF("stat", stat_range, "2OJQ", "Intensity range")
NOVA__RF("stat", stat_mean_absolute_dev, "4FUA",
         "Intensity-based mean absolute deviation")
NOVA__RF("stat", stat_robust_mean_absolute_dev, "1128",
         "Intensity-based robust mean absolute deviation")
NOVA__RF("stat", stat_median_absolute_dev, "N72L",
         "Intensity-based median absolute deviation")
NOVA__RF("stat", stat_coef_of_variation, "7TET",
         "Intensity-based coefficient of variation")
NOVA__RF("stat", stat_quartile_coef_dispersion, "9S40",
         "Intensity-based quartile coefficient of dispersion")
NOVA__RF("stat", stat_energy, "N8CA", "Intensity-based energy")
NOVA__RF("stat", stat_root_mean_square, "5ZWQ", "Root mean square intensity")
NOVA__RF("int", int_hist_mean, "X6K6", "Mean discretised intensity")
NOVA__RF("int", int_hist_variance, "CH89", "Discretised intensity variance")
NOVA__RF("int", int_hist_skewness, "88K1", "Discretised intensity skewness")
NOVA__RF("int", int_hist_kurtosis, "C3I7",
         "(Excess) discretised intensity kurtosis")
NOVA__RF("int", int_hist_median, "WIFQ", "Median discretised intensity")
NOVA__RF("int", int_hist_minimum, "1PR8", "Minimum discretised intensity")
NOVA__RF("int", int_hist_p10, "1PR8", "10th discretised intensity percentile")
NOVA__RF("int", int_hist_p90, "GPMT", "90th discretised intensity percentile")
NOVA__RF("int", int_hist_maximum, "3NCY", "Maximum discretised intensity")
NOVA__RF("int", int_hist_mode, "AMMC", "Intensity histogram mode")
NOVA__RF("int", int_hist_iqr, "WR0O",
         "Discretised intensity interquartile range")
NOVA__RF("int", int_hist_range, "5Z3W", "Discretised intensity range")
NOVA__RF("int", int_hist_mean_absolute_dev, "D2ZX",
         "Intensity histogram mean absolute deviation")
NOVA__RF("int", int_hist_robust_mean_absolute_dev, "WRZB",
         "Intensity histogram robust mean absolute deviation")
NOVA__RF("int", int_hist_median_absolute_dev, "4RNL",
         "Intensity histogram median absolute deviation")
NOVA__RF("int", int_hist_coef_of_variation, "CWYJ",
         "Intensity histogram coefficient of variation")
NOVA__RF("int", int_quartile_coef_dispersion, "SLWD",
         "Intensity histogram quartile coefficient of dispersion")
NOVA__RF("int", int_hist_entropy, "TLU2", "Discretised intensity entropy")
NOVA__RF("int", int_hist_uniformity, "BJ5W", "Discretised intensity uniformity")
NOVA__RF("int", int_hist_max_gradient, "12CE", "Maximum histogram gradient")
NOVA__RF("int", int_hist_max_gradient_intensity, "8E6O",
         "Maximum histogram gradient intensity")
NOVA__RF("int", int_hist_min_gradient, "VQB3", "Minimum histogram gradient")
NOVA__RF("int", int_hist_min_gradient_intensity, "RHQZ",
         "Minimum histogram gradient intensity")
NOVA__RF("int", int_vol_hist_volume_at_intensity_v10, "BC2M",
         "Volume at intensity fraction")
NOVA__RF("int", int_vol_hist_volume_at_intensity_v90, "BC2M",
         "Volume at intensity fraction")
NOVA__RF("int", int_vol_hist_intensity_at_volume_i10, "GBPN",
         "Intensity at volume fraction")
NOVA__RF("int", int_vol_hist_intensity_at_volume_i90, "GBPN",
         "Intensity at volume fraction")
NOVA__RF("int", int_vol_hist_volume_at_intensity_difference, "DDTU",
         "Volume fraction difference between intensity fractions")
NOVA__RF("int", int_vol_hist_intensity_at_volume_difference, "CNV2",
         "Intensity fraction difference between volume fractions")
NOVA__RF("cm", cm_joint_maximum, "GYBY", "Joint maximum")
NOVA__RF("cm", cm_joint_average, "60VM", "Joint average")
NOVA__RF("cm", cm_joint_variance, "UR99", "Joint variance")
NOVA__RF("cm", cm_joint_entropy, "TU9B", "Joint entropy")
NOVA__RF("cm", cm_difference_average, "TF7R", "Difference average")
NOVA__RF("cm", cm_difference_variance, "D3YU", "Difference variance")
NOVA__RF("cm", cm_difference_entropy, "NTRS", "Difference entropy")
NOVA__RF("cm", cm_sum_average, "ZGXS", "Sum average")
NOVA__RF("cm", cm_sum_variance, "OEEB", "Sum variance")
NOVA__RF("cm", cm_sum_entropy, "P6QZ", "Sum entropy")
NOVA__RF("cm", cm_uniformity, "8ZQL", "Angular second moment")
NOVA__RF("cm", cm_contrast, "ACUI", "Contrast")
NOVA__RF("cm", cm_dissimilarity, "8S9J", "Dissimilarity")
NOVA__RF("cm", cm_inverse_difference, "IB1Z", "Inverse difference")
NOVA__RF("cm", cm_inverse_difference_normalised, "NDRX",
         "Normalised inverse difference")
NOVA__RF("cm", cm_inverse_difference_moment, "WF0Z",
         "Inverse difference moment")
NOVA__RF("cm", cm_inverse_difference_moment_normalised, "1QCO",
         "Normalised inverse difference moment")
NOVA__RF("cm", cm_inverse_variance, "E8JP", "Inverse variance")
NOVA__RF("cm", cm_correlation, "NI2N", "Correlation")
NOVA__RF("cm", cm_autocorrelation, "QWB0", "Autocorrelation")
NOVA__RF("cm", cm_cluster_tendency, "DG8W", "Cluster tendency")
NOVA__RF("cm", cm_cluster_shade, "7NFM", "Cluster shade")
NOVA__RF("cm", cm_cluster_prominence, "AE86", "Cluster prominence")
NOVA__RF("cm", cm_information_corr_1, "R8DG", "Information correlation 1")
NOVA__RF("cm", cm_information_corr_2, "JN9H", "Information correlation 2")
NOVA__RF("rlm", rlm_short_runs_emphasis, "22OV", "Short runs emphasis")
NOVA__RF("rlm", rlm_long_runs_emphasis, "W4KF", "Long runs emphasis")
NOVA__RF("rlm", rlm_low_grey_level_run_emphasis, "V3SW",
         "Low grey level run emphasis")
NOVA__RF("rlm", rlm_high_grey_level_run_emphasis, "G3QZ",
         "High grey level run emphasis")
NOVA__RF("rlm", rlm_short_run_low_grey_level_emphasis, "HTZT",
         "Short run low grey level emphasis")
NOVA__RF("rlm", rlm_short_run_high_grey_level_emphasis, "GD3A",
         "Short run high grey level emphasis")
NOVA__RF("rlm", rlm_long_run_low_grey_level_emphasis, "IVPO",
         "Long run low grey level emphasis")
NOVA__RF("rlm", rlm_long_run_high_grey_level_emphasis, "3KUM",
         "Long run high grey level emphasis")
NOVA__RF("rlm", rlm_grey_level_non_uniformity, "R5YN",
         "Grey level non-uniformity")
NOVA__RF("rlm", rlm_grey_level_non_uniformity_normalised, "OVBL",
         "Normalised grey level non-uniformity")
NOVA__RF("rlm", rlm_run_length_non_uniformity, "W92Y",
         "Run length non-uniformity")
NOVA__RF("rlm", rlm_run_length_non_uniformity_normalised, "IC23",
         "Normalised run length non-uniformity")
NOVA__RF("rlm", rlm_run_percentage, "9ZK5", "Run percentage")
NOVA__RF("rlm", rlm_grey_level_variance, "8CE5", "Grey level variance")
NOVA__RF("rlm", rlm_run_length_variance, "SXLW", "Run length variance")
NOVA__RF("rlm", rlm_run_entropy, "HJ9O", "Run entropy")
NOVA__RF("szm", szm_small_zone_emphasis, "5QRC", "Small zone emphasis")
NOVA__RF("szm", szm_large_zone_emphasis, "48P8", "Large zone emphasis")
NOVA__RF("szm", szm_low_grey_level_zone_emphasis, "XMSY",
         "Low grey level zone emphasis")
NOVA__RF("szm", szm_high_grey_level_zone_emphasis, "5GN9",
         "High grey level zone emphasis")
NOVA__RF("szm", szm_small_zone_low_grey_level_emphasis, "5RAI",
         "Small zone low grey level emphasis")
NOVA__RF("szm", szm_small_zone_high_grey_level_emphasis, "HW1V",
         "Small zone high grey level emphasis")
NOVA__RF("szm", szm_large_zone_low_grey_level_emphasis, "YH51",
         "Large zone low grey level emphasis")
NOVA__RF("szm", szm_large_zone_high_grey_level_emphasis, "J17V",
         "Large zone high grey level emphasis")
NOVA__RF("szm", szm_grey_level_non_uniformity, "JNSA",
         "Grey level non-uniformity")
NOVA__RF("szm", szm_grey_level_non_uniformity_normalised, "Y1RO",
         "Normalised grey level non-uniformity")
NOVA__RF("szm", szm_zone_size_non_uniformity, "4JP3",
         "Zone size non-uniformity")
NOVA__RF("szm", szm_zone_size_non_uniformity_normalised, "VB3A",
         "Normalised zone size non-uniformity")
NOVA__RF("szm", szm_zone_percentage, "P30P", "Zone percentage")
NOVA__RF("szm", szm_grey_level_variance, "BYLV", "Grey level variance")
NOVA__RF("szm", szm_zone_size_variance, "3NSA", "Zone size variance")
NOVA__RF("szm", szm_zone_size_entropy, "GU8N", "Zone size entropy")
NOVA__RF("dzm", dzm_small_distance_emphasis, "0GBI", "Small distance emphasis")
NOVA__RF("dzm", dzm_large_distance_emphasis, "MB4I", "Large distance emphasis")
NOVA__RF("dzm", dzm_low_grey_level_zone_emphasis, "S1RA",
         "Low grey level zone emphasis")
NOVA__RF("dzm", dzm_high_grey_level_zone_emphasis, "K26C",
         "High grey level zone emphasis")
NOVA__RF("dzm", dzm_small_distance_low_grey_level_emphasis, "RUVG",
         "Small distance low grey level emphasis")
NOVA__RF("dzm", dzm_small_distance_high_grey_level_emphasis, "DKNJ",
         "Small distance high grey level emphasis")
NOVA__RF("dzm", dzm_large_distance_low_grey_level_emphasis, "A7WM",
         "Large distance low grey level emphasis")
NOVA__RF("dzm", dzm_large_distance_high_grey_level_emphasis, "KLTH",
         "Large distance high grey level emphasis")
NOVA__RF("dzm", dzm_grey_level_non_uniformity, "VFT7",
         "Grey level non-uniformity")
NOVA__RF("dzm", dzm_grey_level_non_uniformity_normalised, "7HP3",
         "Normalised grey level non-uniformity")
NOVA__RF("dzm", dzm_zone_distance_non_uniformity, "V294",
         "Zone distance non-uniformity")
NOVA__RF("dzm", dzm_zone_distance_non_uniformity_normalised, "IATH",
         "Normalised zone distance non-uniformity")
NOVA__RF("dzm", dzm_zone_percentage, "VIWW", "Zone percentage")
NOVA__RF("dzm", dzm_grey_level_variance, "QK93", "Grey level variance")
NOVA__RF("dzm", dzm_zone_distance_variance, "7WT1", "Zone distance variance")
NOVA__RF("dzm", dzm_zone_distance_entropy, "GBDU", "Zone distance entropy")
NOVA__RF("ngtdm", ngtdm_coarseness, "QCDE", "Coarseness")
NOVA__RF("ngtdm", ngtdm_contrast, "65HE", "Contrast")
NOVA__RF("ngtdm", ngtdm_busyness, "NQ30", "Busyness")
NOVA__RF("ngtdm", ngtdm_complexity, "HDEZ", "Complexity")
NOVA__RF("ngtdm", ngtdm_strength, "1X9X", "Strength")
NOVA__RF("ngldm", ngldm_low_dependence_emphasis, "SODN",
         "Low dependence emphasis")
NOVA__RF("ngldm", ngldm_high_dependence_emphasis, "IMOQ",
         "High dependence emphasis")
NOVA__RF("ngldm", ngldm_low_grey_level_count_emphasis, "TL9H",
         "Low grey level count emphasis")
NOVA__RF("ngldm", ngldm_high_grey_level_count_emphasis, "OAE7",
         "High grey level count emphasis")
NOVA__RF("ngldm", ngldm_low_dependence_low_grey_level_emphasis, "EQ3F",
         "Low dependence low grey level emphasis")
NOVA__RF("ngldm", ngldm_low_dependence_high_grey_level_emphasis, "JA6D",
         "Low dependence high grey level emphasis")
NOVA__RF("ngldm", ngldm_high_dependence_low_grey_level_emphasis, "NBZI",
         "High dependence low grey level emphasis")
NOVA__RF("ngldm", ngldm_high_dependence_high_grey_level_emphasis, "9QMG",
         "High dependence high grey level emphasis")
NOVA__RF("ngldm", ngldm_grey_level_non_uniformity, "FP8K",
         "Grey level non-uniformity")
NOVA__RF("ngldm", ngldm_grey_level_non_uniformity_normalised, "5SPA",
         "Normalised grey level non-uniformity")
NOVA__RF("ngldm", ngldm_dependence_count_non_uniformity, "Z87G",
         "Dependence count non-uniformity")
NOVA__RF("ngldm", ngldm_normalised_dependence_count_non_uniformity, "OKJI",
         "Normalised dependence count non-uniformity")
NOVA__RF("ngldm", ngldm_dependence_count_percentage, "6XV8",
         "Dependence count percentage")
NOVA__RF("ngldm", ngldm_grey_level_variance, "1PFV", "Grey level variance")
NOVA__RF("ngldm", ngldm_dependence_count_variance, "DNX2",
         "Dependence count variance")
NOVA__RF("ngldm", ngldm_dependence_count_entropy, "FCBV",
         "Dependence count entropy")
NOVA__RF("ngldm", ngldm_dependence_count_energy, "CAS9",
         "Dependence count energy")
