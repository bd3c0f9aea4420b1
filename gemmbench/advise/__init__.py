"""gemmbench advise: the fastest storage format and kernel for your own matrix within an error budget.

target (the matrices and activations), sweep (the formats, as a suite the real runner measures),
accuracy (each format's error on the activations), frontier (time against error, with ties),
advisor (all of it together), text and page (the terminal answer and the HTML page).
"""
