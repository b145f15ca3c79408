# SPDX-License-Identifier: Apache-2.0
# Clustered bars with min-max error bars, one cluster per workload.
# Variables (gnuplot -e): datafile, outfile, charttitle, ylab, nsys, sysnames
# (space-separated), uselog, width
set terminal svg size width,520 dynamic enhanced font "sans,11" background "white"
set output outfile
set title charttitle noenhanced
set ylabel ylab
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set key top right noenhanced
set xtics rotate by -35 noenhanced
set grid ytics
set yrange [0:*]
if (uselog) { set logscale y; set yrange [*:*] }
plot for [i=0:nsys-1] datafile using (column(2+3*i)):(column(3+3*i)):(column(4+3*i)):xtic(1) \
     title word(sysnames, i+1)
