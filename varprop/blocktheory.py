"""placeholder"""
import numpy as np
from varprop.meanfield import Prediction
def predict_blocks(net, m0, *, input_batch_var=1.0, sigma_w2=None):
    L = net.depth
    n = np.full(L, np.nan)
    return Prediction(n, n, n, n, n, n, n, n, n, n)
