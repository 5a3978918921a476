"""Built-in stages (runner cells) and the scores they produce. One module per stage; importing a module
registers its stage, its scores and any finalizers."""

from bench.stages import ara as ara
from bench.stages import autoattack as autoattack
from bench.stages import clean as clean
from bench.stages import explain as explain
from bench.stages import manipulate as manipulate
from bench.stages import masking as masking
from bench.stages import pgd as pgd
from bench.stages import pgd_sweep as pgd_sweep
from bench.stages import randomization as randomization
from bench.stages import robust_accuracy as robust_accuracy
from bench.stages import sanity as sanity
from bench.stages import shift as shift
from bench.stages import train as train
from bench.stages import transfer as transfer
