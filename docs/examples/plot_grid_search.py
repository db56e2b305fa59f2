"""
Choosing the bottleneck size with GridSearchCV
==============================================

:meth:`~skae.AutoencoderTransformer.score` is the negative reconstruction
error, so a grid search over ``n_components`` needs no custom scorer. But a
bigger code always reconstructs better, so the plain search always picks the
largest size of the grid. The question worth asking is the *smallest* code
that is nearly as good: :func:`skae.model_selection.smallest_within` is a
``refit`` rule that answers it, by reconstruction or by a downstream score.
"""

# %%
# Two searches over the same sizes
# --------------------------------
# 3,000 digits and 8 epochs keep this page quick to build; such a short
# budget ends before the loss has flattened, so the ConvergenceWarning that
# says so is silenced here.
import warnings

import matplotlib.pyplot as plt
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from skae import AutoencoderTransformer
from skae.datasets import fetch_mnist
from skae.model_selection import smallest_within

warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = fetch_mnist(subset="train", return_X_y=True)
X, y = X[:3000], y[:3000]
sizes = [2, 4, 8, 16, 32]
ae = AutoencoderTransformer(
    hidden_layer_sizes=(128,),
    batch_size=256,  # "auto" takes 32 on 2,000 rows; 256 keeps the page quick
    max_iter=8,
    learning_rate_init=3e-3,
    random_state=0,
)

# %%
# By reconstruction, the smallest code within 0.003 (in mean squared error)
# of the best score; by 5-NN accuracy of a pipeline, the smallest code
# within one standard deviation (across folds) of the best accuracy.
by_reconstruction = GridSearchCV(
    ae, {"n_components": sizes}, cv=3, refit=smallest_within(tolerance=0.003)
).fit(X)
pipe = make_pipeline(ae, KNeighborsClassifier(n_neighbors=5))
by_accuracy = GridSearchCV(
    pipe,
    {"autoencodertransformer__n_components": sizes},
    cv=3,
    refit=smallest_within("n_components"),
).fit(X, y)

print("by reconstruction:", by_reconstruction.best_params_)
print("by 5-NN accuracy: ", by_accuracy.best_params_)

# %%
# The scores, with each search's choice circled
# ---------------------------------------------
# A circle marks the size each search refitted: the first point of the
# curve that comes within the search's margin of its best score.
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
panels = [
    (left, by_reconstruction, -1, "held-out reconstruction MSE", "C0"),
    (right, by_accuracy, 1, "5-NN accuracy", "C1"),
]
for ax, search, sign, label, color in panels:
    scores = sign * search.cv_results_["mean_test_score"]
    ax.plot(sizes, scores, "o-", color=color)
    ax.plot(
        sizes[search.best_index_],
        scores[search.best_index_],
        "o",
        ms=14,
        mfc="none",
        mec="k",
    )
    ax.set(xscale="log", xlabel="n_components", ylabel=label)
    ax.set_xticks(sizes, labels=[str(s) for s in sizes])
    ax.minorticks_off()  # the log axis's minor labels would overprint
left.set_title("estimator score")
right.set_title("pipeline score")
fig.tight_layout()
plt.show()
