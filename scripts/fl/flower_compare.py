"""Flower + Opacus and a non-private scikit-learn ceiling on phiveil's splits.

Reads the splits `fl_bench` wrote (same seeded train/test split, same five clients,
standardized the same way) and prints one JSON line per system, split and ε.

* ceiling: scikit-learn LogisticRegression on the pooled training set (no privacy);
* Flower + Opacus: Flower's FedAvg in its simulation engine; each client trains a
  logistic regression (torch `nn.Linear(30, 1)`) for one local epoch per round with
  Opacus DP-SGD (Poisson sampling, clip 1.0); its noise multiplier comes from Opacus's
  RDP accountant for all of the client's steps over all rounds at the target ε, δ = 1e-5
  (so the guarantee covers the whole training, as phiveil's does).

Usage: flower_compare.py SPLITS.json [SEEDS=5] [EPSILONS=1,3,8]; accuracy, AUC and seconds
per round are means over the seeds (torch/numpy seeded 1000 + seed, as fl_bench seeds
its noise).
"""
import json
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")

splits = json.load(open(sys.argv[1]))
ROUNDS = int(splits["rounds"])
SEEDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
EPSILONS = [float(e) for e in (sys.argv[3].split(",") if len(sys.argv) > 3 else ["1", "3", "8"])]
DELTA = 1e-5
BATCH = 16
LR = 0.5
CLIP = 1.0


def arrays(rows):
    return (np.array([r["x"] for r in rows], dtype=np.float32),
            np.array([r["y"] for r in rows], dtype=np.float32))


Xte, yte = arrays(splits["test"])
Xtr, ytr = arrays(splits["train"])

from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

clf = LogisticRegression(max_iter=5000).fit(Xtr, ytr)
print(json.dumps({"system": "sklearn (non-private, centralized)", "split": "pooled",
                  "accuracy": float(clf.score(Xte, yte)),
                  "auc": float(roc_auc_score(yte, clf.predict_proba(Xte)[:, 1]))}), flush=True)

import torch  # noqa: E402
from opacus import PrivacyEngine  # noqa: E402
from opacus.accountants.utils import get_noise_multiplier  # noqa: E402
from flwr.client import ClientApp, NumPyClient  # noqa: E402
from flwr.common import Context, ndarrays_to_parameters  # noqa: E402
from flwr.server import ServerApp, ServerAppComponents, ServerConfig  # noqa: E402
from flwr.server.strategy import FedAvg  # noqa: E402
from flwr.simulation import run_simulation  # noqa: E402

torch.set_num_threads(1)


def model():
    return torch.nn.Linear(30, 1)


def evaluate(w):
    m = model()
    set_weights(m, w)
    with torch.no_grad():
        p = torch.sigmoid(m(torch.from_numpy(Xte))).squeeze(1).numpy()
    return float(((p >= 0.5) == (yte == 1)).mean()), float(roc_auc_score(yte, p))


def get_weights(m):
    return [v.detach().cpu().numpy().copy() for v in m.parameters()]


def set_weights(m, ws):
    with torch.no_grad():
        for p, w in zip(m.parameters(), ws):
            p.copy_(torch.from_numpy(np.asarray(w)))


def run(split, eps, seed):
    torch.manual_seed(1000 + seed)
    np.random.seed(1000 + seed)
    clients = [arrays(c) for c in splits["clients"][split]]

    class Client(NumPyClient):
        def __init__(self, i):
            self.X, self.y = clients[i]
            self.q = BATCH / len(self.y)
            steps = ROUNDS * int(round(1 / self.q))
            self.sigma = get_noise_multiplier(target_epsilon=eps, target_delta=DELTA,
                                              sample_rate=self.q, steps=steps, accountant="rdp")

        def fit(self, parameters, config):
            m = model()
            set_weights(m, parameters)
            opt = torch.optim.SGD(m.parameters(), lr=LR)
            ds = torch.utils.data.TensorDataset(torch.from_numpy(self.X), torch.from_numpy(self.y))
            dl = torch.utils.data.DataLoader(ds, batch_size=BATCH)
            pe = PrivacyEngine(accountant="rdp")
            m, opt, dl = pe.make_private(module=m, optimizer=opt, data_loader=dl,
                                         noise_multiplier=self.sigma, max_grad_norm=CLIP,
                                         poisson_sampling=True)
            loss_fn = torch.nn.BCEWithLogitsLoss()
            for xb, yb in dl:
                if len(yb) == 0:
                    continue
                opt.zero_grad()
                loss_fn(m(xb).squeeze(1), yb).backward()
                opt.step()
            return get_weights(m._module), len(self.y), {}

    times = []
    final = {}

    def central_eval(rnd, parameters, config):
        times.append(time.perf_counter())
        acc, auc = evaluate(parameters)
        final.update(accuracy=acc, auc=auc)
        return 0.0, {"accuracy": acc}

    def server_fn(context: Context):
        strategy = FedAvg(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=5,
                          min_available_clients=5, evaluate_fn=central_eval,
                          initial_parameters=ndarrays_to_parameters(get_weights(model())))
        return ServerAppComponents(strategy=strategy, config=ServerConfig(num_rounds=ROUNDS))

    def client_fn(context: Context):
        return Client(int(context.node_config["partition-id"])).to_client()

    run_simulation(server_app=ServerApp(server_fn=server_fn),
                   client_app=ClientApp(client_fn=client_fn), num_supernodes=5,
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                                   # Ray's services on loopback only, no dashboard.
                                   "init_args": {"_node_ip_address": "127.0.0.1",
                                                 "include_dashboard": False}})
    per_round = (times[-1] - times[0]) / max(len(times) - 1, 1)
    return final["accuracy"], final["auc"], per_round


for split in ["iid", "label-skew"]:
    for eps in EPSILONS:
        runs = [run(split, eps, seed) for seed in range(SEEDS)]
        print(json.dumps({"system": "flower+opacus", "split": split, "epsilon": eps,
                          "rounds": ROUNDS, "seeds": SEEDS,
                          "accuracy": float(np.mean([r[0] for r in runs])),
                          "auc": float(np.mean([r[1] for r in runs])),
                          "seconds_per_round": float(np.mean([r[2] for r in runs]))}), flush=True)
