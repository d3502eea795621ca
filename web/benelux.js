// The outline of the Benelux countries for the status page's camera map, drawn by hand for this
// page from a few dozen border points each (longitude, latitude in degrees): a sketch to find
// one's way, not a survey. The islands (Wadden, Zeeland) and the IJsselmeer are left out. No
// map tiles and no network access: the page works offline.
'use strict';
const BENELUX = (() => {
  // Borders shared by two countries, written once so the outlines meet.
  const nlBe = [[3.36, 51.37], [3.38, 51.27], [3.80, 51.21], [4.05, 51.24], [4.30, 51.36],
    [4.39, 51.36], [4.55, 51.48], [4.93, 51.44], [5.10, 51.43], [5.23, 51.26], [5.48, 51.30],
    [5.55, 51.25], [5.82, 51.16], [5.76, 51.03], [5.64, 50.85], [5.69, 50.76], [6.02, 50.75]];
  const beLu = [[6.14, 50.13], [6.03, 50.18], [5.87, 50.09], [5.74, 49.90], [5.74, 49.83],
    [5.90, 49.66], [5.82, 49.55]];
  const nlRest = [[6.07, 50.87], [5.87, 51.05], [6.17, 51.17], [6.22, 51.36], [5.95, 51.75],
    [6.17, 51.90], [6.39, 51.87], [6.76, 52.10], [7.07, 52.24], [7.03, 52.40], [6.70, 52.49],
    [6.71, 52.63], [7.05, 52.64], [7.07, 52.82], [7.21, 53.24], [6.90, 53.45], [6.30, 53.42],
    [5.90, 53.40], [5.35, 53.10], [4.75, 52.96], [4.65, 52.80], [4.55, 52.45], [4.35, 52.18],
    [4.05, 51.97], [3.85, 51.82], [3.70, 51.70], [3.45, 51.55]];
  const beRest = [[6.27, 50.62], [6.40, 50.32]];
  const beFr = [[5.45, 49.50], [5.07, 49.76], [4.85, 49.79], [4.88, 50.15], [4.68, 49.99],
    [4.23, 49.96], [4.12, 50.30], [3.68, 50.41], [3.27, 50.53], [3.22, 50.72], [3.09, 50.78],
    [2.85, 50.72], [2.63, 50.82], [2.54, 51.09]];
  const luEast = [[5.82, 49.55], [6.08, 49.46], [6.37, 49.47], [6.51, 49.71], [6.42, 49.81],
    [6.20, 49.93]];
  return {
    NL: { outline: nlBe.concat(nlRest), label: [5.6, 52.3] },
    BE: { outline: nlBe.concat(beRest, beLu, beFr), label: [4.5, 50.6] },
    LU: { outline: luEast.concat(beLu), label: [6.1, 49.75] },
  };
})();
